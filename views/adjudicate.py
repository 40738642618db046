"""Adjudicate: pairs whose raters disagree by at least a level range, or that a rater flagged, one at a time with
every rater's label, the models' predictions and the raters' comments. Keys 1–5 decide (the decision becomes the
pair's label in force and is exported as such), N next, U undo the last decision."""

import pandas as pd
import streamlit as st

from core import config
from core.campaigns import adjudication as adj
from ui import adjudication as ui_adj
from ui.auth import require
from ui.components import product_card, query_banner

user = require("adjudicate")
url = config.db_url()
st.title("Adjudicate")
c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
min_range = c1.slider("Raters disagree by at least (levels, max − min)", 1, 4, 2, key="adj_min_range")
flagged = c2.toggle("Flagged pairs", value=True, key="adj_flagged")
decided = c3.toggle("Decided pairs too", value=False, key="adj_decided")
queue = adj.queue(url, min_range=min_range, include_flagged=flagged, include_decided=decided)
if queue.empty and not ui_adj.pinned():
    st.info("Nothing to adjudicate: no pair's raters disagree that much and no pair is flagged. Pairs need two or "
            "more ratings (a campaign with overlap k ≥ 2).", icon=":material/inbox:")
    st.stop()

row = ui_adj.current(queue, url)
st.caption(f"{len(queue)} pair(s) in the queue (flagged first, then the widest disagreement); "
           f"{ui_adj.passed()} passed in this session.")
ui_adj.show_flash()
left, right = st.columns([3, 2], gap="large")
with right:
    ui_adj.controls(user, row)
    if row is not None:
        ui_adj.evidence(url, row, ui_adj.predictions(url, queue))
with left:
    if row is None:
        st.success("You went through the whole queue.", icon=":material/task_alt:")
        st.button("Start again", key="adj_restart", on_click=ui_adj.restart)
    else:
        query_banner(row["query"], row["language"])
        product_card(adj.pair_view(int(row["query_pk"]), int(row["product_pk"]), url=url)["product"])
        flags = f" · {row['n_flags']} open flag(s)" if row["n_flags"] else ""
        decision = f" · decided {row['decided_level']} by {row['decided_by']}" if pd.notna(row["decided_level"]) else ""
        st.caption(f"task {row['task_id']} · keys: 1–5 decide, N next, U undo the last decision · raters: "
                   f"{row['levels'] or 'none'}{flags}{decision}")
