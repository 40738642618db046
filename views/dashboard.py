"""Dashboard: per-language nDCG with CIs for teacher, student and BM25 (pointwise data sets: accuracy, macro-F1
and AUC per pair instead), filtered by data set and language; accuracy against humans, rater agreement,
side-by-side win rates and label throughput. Every table has a CSV download."""

import streamlit as st

from core import config
from core.workflows import analytics
from ui import dashboard as dash
from ui.auth import require
from ui.components import table

require("dashboard")
url = config.db_url()
st.title("Dashboard")
version = analytics.store_version(url)

labels = dash.labels(url, version)
if labels.empty:
    st.info("No labels yet. Import judgments on **Data and campaigns** (or `relevance init` for the demo), or "
            "let raters grade a campaign; figures appear here as labels arrive.", icon=":material/inbox:")
    st.stop()

f1, f2 = st.columns(2)
datasets, languages = dash.selection_filters(labels, "dash", f1, f2)
if not datasets:
    st.warning("Pick at least one data set.")
    st.stop()

st.subheader("Labels per language")
langs = dash.labels_by_language(url, version, datasets, languages)
if langs.empty:
    st.info(analytics.empty_selection_message(datasets, languages), icon=":material/inbox:")
else:
    table(langs, "dash_langs", "labels_by_language.csv")

models = dash.model_quality(url, version, datasets, languages) if not langs.empty else ()

humans = dash.vs_humans(url, version, models)
if not humans.empty:
    st.subheader("Models against the raters' consensus")
    table(humans, "dash_humans", "models_vs_raters.csv", column_config=dash.NUMBERS)

st.subheader("Rater agreement")
st.caption("Every campaign, every data set and language.")
summary, raters = dash.agreement(url, version)
if summary is None:
    st.caption("No rater labels yet.")
else:
    cols = st.columns(4)
    for col, (name, key) in zip(cols, [("Krippendorff α (ordinal)", "alpha_ordinal"),
                                       ("Cohen κ (quadratic)", "kappa_quadratic"), ("Exact", "exact"),
                                       ("Within one", "within_one")]):
        col.metric(name, dash.fmt(summary.get(key)))
    st.caption(f"{summary.get('n_labels', 0)} labels on {summary.get('n_items', 0)} items, "
               f"{summary.get('n_items_multi', 0)} with two or more ratings.")
    table(raters, "dash_raters", "raters.csv", column_config=dash.NUMBERS)

st.subheader("Side-by-side win rates")
wins = dash.win_rates(url, version)
if wins.empty:
    st.caption("No side-by-side answers yet.")
else:
    st.plotly_chart(dash.win_chart(wins), key="dash_chart_wins")
    table(wins, "dash_wins", "win_rates.csv", column_config=dash.NUMBERS)

st.subheader("Label throughput")
thr = dash.throughput(url, version)
if thr.empty:
    st.caption("No rater labels yet.")
else:
    st.plotly_chart(dash.throughput_chart(thr), key="dash_chart_thr")
    table(thr, "dash_thr", "throughput.csv", column_config=dash.NUMBERS)
