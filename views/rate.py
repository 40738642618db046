"""Rate: one query–product pair at a time, graded with the keyboard (1–5, S skip, U undo, F flag).

The rating panel is an ``st.fragment``: an answer reruns the panel only (not the sidebar, the navigation or
the campaign box), and the next task is already leased (``rating.prefetch``).
"""

import streamlit as st

from core import campaigns as camp
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from core.store.predictions import task_predictions
from ui import campaigns, flags, rating
from ui.auth import require
from ui.components import product_card
from ui.keypad import keypad

user = require("rate")
f = rating.flow("rate")
mine = camp.rater_campaign_list(user.name, "grade")  # active and paused ones, with their instructions
names = [c.name for c in mine]
if not names:
    st.title("Rate")
    st.info("You are not a rater of any active grading campaign yet. An admin or researcher can create one "
            "and add you on **Data and campaigns** (or `relevance campaign create NAME --raters "
            f"{user.name}`).", icon=":material/inbox:")
    st.stop()

campaign = rating.campaign_picker(f, names, "rate_campaign", "Rate", user.name)
campaigns.instructions(mine, campaign, "rate_instructions")
rating.ensure_task(f, campaign, user.name)
BUTTONS = [f"rate_level_{level}" for level in range(1, 6)] + ["rate_skip", "rate_undo", "rate_flag"]
KEYS = {**{str(level): (rating.grade, level) for level in range(1, 6)}, "s": (rating.skip,), "u": (rating.undo,),
        "f": (rating.toggle_flag,)}


@st.fragment
def panel() -> None:
    task, tid = rating.panel_start(f)
    left, right = st.columns([3, 2], gap="large")
    with right:
        for level in (5, 4, 3, 2, 1):
            st.button(f"**{level}** · {LEVEL_NAMES[level]}", key=f"rate_level_{level}", help=LEVEL_MEANINGS[level],
                      on_click=rating.grade, args=("rate", user.name, level, tid), disabled=task is None,
                      width="stretch")
        a, b = st.columns(2)
        a.button("Skip · S", key="rate_skip", icon=":material/skip_next:", on_click=rating.skip,
                 args=("rate", user.name, tid), disabled=task is None, width="stretch")
        b.button("Undo · U", key="rate_undo", icon=":material/undo:", on_click=rating.undo,
                 args=("rate", user.name, tid), width="stretch")
        st.button("Flag · F", key="rate_flag", icon=":material/flag:", on_click=rating.toggle_flag,
                  args=("rate", user.name, tid), disabled=task is None, width="stretch")
        keypad("rate", tid, "f" if f.flagging else "12345suf", f.handled, BUTTONS,
               on_press=lambda: rating.press("rate", user.name, KEYS))
    with left:
        if task is None:
            rating.nothing_left(f, "Nothing left for you in this campaign — thank you! Press **U** to revisit your "
                                   "last answer.")
        else:
            flags.item_header(f, "rate", user.name)
            product_card(task.product)
            st.caption(f"task {task.task_id} · keys: 1–5 grade, S skip, U undo, F flag")
    with right:
        p = rating.progress(f)
        mine = next((r for r in p.raters if r.rater == user.name), None)
        st.progress(min(1.0, p.fraction), text=f"Campaign {p.ratings_done}/{p.ratings_required} ratings · "
                                               f"you: {mine.done if mine else 0} done")
        training = st.toggle("Training mode: reveal stored model predictions after saving", key="rate_training")
        if training and f.last and f.last["kind"] == "grade":
            pred = task_predictions(f.last["task_id"])
            st.caption(f"Your last label: **{f.last['value']}**. " + (
                " · ".join(f"{r.model}: {r.expected:.2f} (argmax {r.argmax})" for r in pred.itertuples())
                if not pred.empty else "No stored model predictions for that pair."))
        with st.expander("Guidelines: levels and examples", icon=":material/menu_book:", key="rate_guidelines",
                         on_change="rerun"):
            rating.guidelines()
        ms = rating.finish_timing(f)
        if ms is not None:
            st.caption(f"Saved · next item ready in {ms:.0f} ms on the server (the browser's key → screen time "
                       f"is under the buttons)")
    rating.prefetch(f, user.name)


f.progress_at = 0.0  # a full run re-reads the progress bar
panel()
