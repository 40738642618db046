"""My labels: the rater's labels in force, filtered by campaign and query; pick one to see the pair again and
change its level (append-only, like undo: the earlier level stays in the record); and the rater's own figures."""

import streamlit as st

from core import config
from core.campaigns import my_labels as ml
from ui import my_labels as ui_ml
from ui import quality
from ui.auth import require
from ui.components import product_card, query_banner

user = require("my_labels")
st.title("My labels")
labels = ml.my_labels(user.name)
if labels.empty:
    st.info("No labels yet: grade items on **Rate**; your labels appear here and you can change them while their "
            "campaign is active.", icon=":material/inbox:")
    st.stop()

ALL = "All campaigns"
f1, f2 = st.columns([2, 3])
campaign = f1.selectbox("Campaign", [ALL] + sorted(labels["campaign"].unique()), key="my_labels_campaign")
query = f2.text_input("Search queries", key="my_labels_query", placeholder="words of the query")
shown = ml.select_my_labels(labels, None if campaign == ALL else campaign, query)
ui_ml.show_flash()
if shown.empty:
    st.info("None of your labels matches: change the campaign or the search.", icon=":material/search_off:")
else:
    st.caption(f"{len(shown)} of your {len(labels)} labels in force, newest first. Pick a row to see the pair and "
               f"change its level.")
    task = ui_ml.history_table(shown)
    if task is not None:
        row = shown[shown["task_id"] == task].iloc[0]
        pair = ml.label_pair(int(row["label_id"]))
        query_banner(pair["query"], pair["language"])
        product_card(pair["product"])
        ui_ml.change_buttons(user, row)

st.subheader("Your figures")
quality.own_figures(quality.report(config.db_url(), rater=user.name), user.name)
