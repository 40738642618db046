"""Rate: one query–product pair at a time, graded with the keyboard (1–5, S skip, U undo)."""

import streamlit as st

from core import campaigns as camp
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from core.store.predictions import task_predictions
from ui import rating
from ui.auth import require
from ui.components import product_card, query_banner

user = require("rate")
f = rating.flow("rate")
names = camp.rater_campaigns(user.name, "grade")
if not names:
    st.title("Rate")
    st.info("You are not a rater of any active grading campaign yet. An admin or researcher can create one "
            "and add you on **Data and campaigns** (or `relevance campaign create NAME --raters "
            f"{user.name}`).", icon=":material/inbox:")
    st.stop()

head, pick = st.columns([3, 2], vertical_alignment="bottom")
head.title("Rate")
campaign = pick.selectbox("Campaign", names, key="rate_campaign", label_visibility="collapsed") \
    if len(names) > 1 else names[0]
rating.ensure_task(f, campaign, user.name)
rating.show_flash(f)

left, right = st.columns([3, 2], gap="large")
with right:
    disabled = f.task is None
    for level in (5, 4, 3, 2, 1):
        st.button(f"**{level}** · {LEVEL_NAMES[level]}", key=f"rate_level_{level}", shortcut=str(level),
                  help=LEVEL_MEANINGS[level], on_click=rating.grade, args=("rate", user.name, level),
                  disabled=disabled, width="stretch")
    a, b = st.columns(2)
    a.button("Skip", key="rate_skip", shortcut="S", icon=":material/skip_next:", on_click=rating.skip,
             args=("rate", user.name), disabled=disabled, width="stretch")
    b.button("Undo", key="rate_undo", shortcut="U", icon=":material/undo:", on_click=rating.undo,
             args=("rate", user.name), width="stretch")
    p = camp.progress(campaign)
    mine = next((r for r in p.raters if r.rater == user.name), None)
    st.progress(min(1.0, p.fraction), text=f"Campaign {p.ratings_done}/{p.ratings_required} ratings · "
                                           f"you: {mine.done if mine else 0} done")
    training = st.toggle("Training mode: reveal stored model predictions after saving", key="rate_training")
    if training and f.last and f.last["kind"] == "grade":
        pred = task_predictions(f.last["task_id"])
        st.caption(f"Your last label: **{f.last['value']}**. " + (
            " · ".join(f"{r.model}: {r.expected:.2f} (argmax {r.argmax})" for r in pred.itertuples())
            if not pred.empty else "No stored model predictions for that pair."))
    with st.expander("Guidelines: levels and examples", icon=":material/menu_book:"):
        rating.guidelines()

with left:
    if f.task is None:
        st.success("Nothing left for you in this campaign — thank you! Press **U** to revisit your last answer.",
                   icon=":material/task_alt:")
    else:
        query_banner(f.task.query, f.task.language)
        product_card(f.task.product)
        st.caption(f"task {f.task.task_id} · keys: 1–5 grade, S skip, U undo")

ms = rating.finish_timing(f)
if ms is not None:
    right.caption(f"Saved · next item ready in {ms:.0f} ms (server)")
