"""Dashboard: per-language figures a PM can trust — held-out queries by default, each figure saying which queries
it covers, "too few queries (n)" instead of a zero-width CI, the reference model named — and "what changed"
between two models or two label dates; accuracy against the raters, rater agreement, side-by-side win rates and
label throughput. Every table has a CSV download; every empty section says why."""

import streamlit as st

from core import config
from core.workflows import analytics
from ui import dashboard as dash
from ui import dashboard_charts as charts
from ui import dashboard_quality as quality
from ui.auth import require
from ui.components import table

require("dashboard")
url = config.db_url()
st.title("Dashboard")
versions = analytics.section_versions(url)

labels = dash.labels(url, versions["labels"])
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
langs = dash.labels_by_language(url, versions["labels"], datasets, languages)
if langs.empty:
    st.info(analytics.empty_selection_message(datasets, languages), icon=":material/inbox:")
else:
    table(langs, "dash_langs", "labels_by_language.csv")

chosen = quality.model_quality(url, versions, datasets, languages) if not langs.empty else None
quality.what_changed(url, versions, chosen)

st.subheader("Models against the raters' consensus")
if st.toggle("Compare the models' stored predictions with the raters' consensus", key="dash_humans"):
    quality.vs_raters(url, versions, languages)
else:
    st.caption("Off by default: it ranks every rated query again (a few seconds).")

st.subheader("Rater agreement")
summary, raters = dash.agreement(url, versions["labels"])
if summary is None:
    st.info("No rater labels yet, so no agreement to measure: raters grade campaign tasks on **Rate**; items need "
            "two or more ratings (a campaign with overlap k ≥ 2).", icon=":material/inbox:")
else:
    st.caption("Every campaign, every data set and language.")
    for col, (name, key) in zip(st.columns(4), [("Krippendorff α (ordinal)", "alpha_ordinal"),
                                                ("Cohen κ (quadratic)", "kappa_quadratic"), ("Exact", "exact"),
                                                ("Within one", "within_one")]):
        col.metric(name, charts.fmt(summary.get(key)))
    st.caption(f"{summary.get('n_labels', 0)} labels on {summary.get('n_items', 0)} items, "
               f"{summary.get('n_items_multi', 0)} with two or more ratings.")
    table(charts.text_frame(raters), "dash_raters", "raters.csv")

st.subheader("Side-by-side win rates")
wins = dash.win_rates(url, versions["comparisons"])
if wins.empty:
    st.info("No side-by-side answers yet: create a side-by-side campaign on **Data and campaigns**; raters "
            "answer it on **Compare**.", icon=":material/inbox:")
else:
    st.plotly_chart(charts.win_chart(wins), key="dash_chart_wins")
    table(charts.text_frame(wins), "dash_wins", "win_rates.csv")
    reasons = dash.answer_reasons(url, versions["comparisons"])
    if not reasons.empty:
        st.caption("Reasons given with the answers (optional, keys 1–4 on Compare); share of each outcome's answers.")
        table(charts.text_frame(reasons), "dash_reasons", "side_by_side_reasons.csv")

st.subheader("Label throughput")
thr = dash.throughput(url, versions["labels"])
if thr.empty:
    st.info("No rater labels yet: throughput counts the raters' labels in force (undone ones not counted).",
            icon=":material/inbox:")
else:
    st.plotly_chart(charts.throughput_chart(thr), key="dash_chart_thr")
    table(charts.text_frame(thr), "dash_thr", "throughput.csv")
