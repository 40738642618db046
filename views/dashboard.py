"""Dashboard: per-language nDCG with CIs for teacher, student and BM25, accuracy against humans, rater
agreement, side-by-side win rates and label throughput. Every table has a CSV download."""

import streamlit as st

from core import analytics, config
from ui import dashboard as dash
from ui.auth import require
from ui.components import table

require("dashboard")
url = config.db_url()
st.title("Dashboard")
version = analytics.store_version(url)

langs = dash.labels_by_language(url, version)
if langs.empty:
    st.info("No labels yet. Import judgments on **Data and campaigns** (or `relevance init` for the demo), or "
            "let raters grade a campaign; figures appear here as labels arrive.", icon=":material/inbox:")
    st.stop()

st.subheader("Labels per language")
table(langs, "dash_langs", "labels_by_language.csv")

st.subheader("Ranking quality on the labelled pairs")
c1, c2 = st.columns([1, 3])
k = c1.selectbox("Cut-off k", ["10", "20", "all"], index=1, key="dash_k",
                 help="`all` ranks each query's whole judged list (the ESCI KDD Cup 2022 task 1 protocol)")
models = tuple(c2.multiselect("Models", dash.model_options(), default=["teacher", "student", "bm25"],
                              key="dash_models"))
ndcg, coverage, skipped = dash.ndcg_table(url, version, k, models) if models else (None, {}, {})
for m, why in skipped.items():
    st.caption(f"`{m}` left out: {why}.")
if ndcg is not None and not ndcg.empty:
    for m, share in coverage.items():
        if share < 0.999:
            st.caption(f"`{m}`: stored predictions cover {share:.0%} of the labelled pairs "
                       f"(the rest count as level 3).")
    a, b = st.columns(2)
    a.plotly_chart(dash.ndcg_chart(ndcg, "esci"), key="dash_chart_esci")
    b.plotly_chart(dash.ndcg_chart(ndcg, "linear"), key="dash_chart_linear")
    st.caption("Accuracy: 5-class argmax against the label in force (models with level probabilities only). "
               "p_holm: paired randomization test against the first model, Holm-corrected.")
    table(ndcg, "dash_ndcg", f"ndcg_at_{k}.csv", column_config=dash.NUMBERS)

humans = dash.vs_humans(url, version, models)
if not humans.empty:
    st.subheader("Models against the raters' consensus")
    table(humans, "dash_humans", "models_vs_raters.csv", column_config=dash.NUMBERS)

st.subheader("Rater agreement")
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
