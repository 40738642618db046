"""Failures: labelled pairs where the teacher, the student and the humans disagree most (DuckDB over the
Parquet predictions joined with the labels in force), filtered by data set, language, query and level; send a
selection to a new campaign."""

import streamlit as st

from core import config
from core.campaigns import CampaignError
from core.campaigns.selection import create_selection_campaign
from core.safe_csv import to_csv
from core.store.users import RATER_ROLES, list_users
from core.workflows import analytics
from ui import dashboard as dash
from ui.auth import require
from ui.failures import detail

user = require("failures")
url = config.db_url()
st.title("Failures")
files = analytics.prediction_files()
if not files:
    st.info("No stored predictions yet. Score the labelled pairs with a 5-class model — `relevance score teacher "
            "--judged` (and `student`) or a scoring job on **Models and jobs** — to explore where models and "
            "raters disagree.", icon=":material/inbox:")
    st.stop()
labels = dash.labels(url, analytics.store_version(url))
if labels.empty:
    st.info("No labels yet: import judgments or let raters grade a campaign.", icon=":material/inbox:")
    st.stop()

f1, f2, f3, f4, f5 = st.columns([2, 2, 2, 3, 2])
models = f1.multiselect("Models", sorted(files), default=[m for m in ("teacher", "student") if m in files]
                        or sorted(files)[:2], key="failures_models")
datasets, languages = dash.selection_filters(labels, "failures", f2, f3)
query = f4.text_input("Query contains", key="failures_query")
levels = f5.multiselect("Human level", [5, 4, 3, 2, 1], key="failures_levels")
if not models:
    st.warning("Pick at least one model.")
    st.stop()
if not datasets:
    st.warning("Pick at least one data set.")
    st.stop()
labels = analytics.select_labels(labels, datasets, languages)
if labels.empty:
    st.info(analytics.empty_selection_message(datasets, languages), icon=":material/inbox:")
    st.stop()

rows = analytics.failure_pairs(labels, files, models, query=query, levels=levels)
if rows.empty:
    st.info(f"None of the {len(labels):,} selected labelled pairs has a stored prediction from every selected model"
            f"{' and matches the query and level filters' if query or levels else ''}.", icon=":material/inbox:")
st.caption(f"{len(rows)} pairs, most disagreeing first (gap between any two of: human level, each model's "
           f"expected level). Select rows to inspect them or to send them to a campaign.")
shown = rows.drop(columns=["query_pk", "product_pk"])
numbers = {c: st.column_config.NumberColumn(c, format="%.2f") for c in shown.columns
           if c.endswith("_expected") or c == "disagreement"}
model_cols = [c for c in shown.columns if c.endswith(("_expected", "_argmax"))]
order = ["query", "language", "product_id", "level", *model_cols, "disagreement", "datasets", "source", "n_raters",
         "query_id"]
# Streamlit's row selection is by position: the table's key names the exact list of pairs shown, so when a
# filter (or a new label) changes the list, the old selection is dropped instead of pointing at other pairs.
picked = st.dataframe(shown, hide_index=True, width="stretch", height=360, on_select="rerun", column_order=order,
                      column_config=numbers, selection_mode="multi-row",
                      key=f"failures_table_{analytics.pairs_fingerprint(rows)}")
st.download_button("Download CSV", to_csv(shown), "failures.csv", "text/csv",
                   key="failures_csv", on_click="ignore", icon=":material/download:")
selected = rows.iloc[picked.selection.rows] if picked and picked.selection.rows else rows.iloc[:0]

if len(selected):
    st.divider()
    detail(selected.iloc[-1], models)
    st.divider()
    with st.form("failures_send", border=True):
        st.markdown(f"**Send {len(selected)} selected pair(s) to a new grading campaign**")
        name = st.text_input("Campaign name", key="failures_campaign_name")
        raters = st.multiselect("Raters", [u.name for u in list_users() if u.role in RATER_ROLES
                                           and u.active], key="failures_raters")
        overlap = st.number_input("Ratings per pair", 1, 5, 1, key="failures_overlap")
        if st.form_submit_button("Create campaign", type="primary"):
            try:
                info = create_selection_campaign(name, selected, raters, overlap_k=int(overlap),
                                                 created_by=user.name, note=f"failures of {', '.join(models)}")
                st.success(f"Created campaign **{info.name}** with {info.n_tasks} tasks.")
            except CampaignError as exc:
                st.error(str(exc))
