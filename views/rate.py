"""Rate: one query–product pair at a time, graded with the keyboard (1–5, S skip, U undo, F flag).

The rating panel is an ``st.fragment``: an answer reruns the panel only (not the sidebar, the navigation or
the campaign box). The keypad draws the item and holds the next one, already leased (``rating.prefetch``), so a
grade shows it at once in the browser while the server saves the answer (ui/keypad.py).
"""

import streamlit as st

from core import campaigns as camp
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from core.store.predictions import task_predictions
from ui import campaigns, flags, rating
from ui.auth import require
from ui.components import item_html
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


def _item(view: camp.TaskView | None) -> dict | None:
    """A task as the keypad draws it (the item's HTML, escaped on the server)."""
    return None if view is None else {"task": view.task_id, "html": item_html(
        view.query, view.language, view.note, view.product, f"task {view.task_id} · keys: 1–5 grade, S skip, U undo, "
                                                            f"F flag")}


@st.fragment
def panel() -> None:
    task, tid = rating.panel_start(f)
    left, right = st.columns([3, 2], gap="large")
    with left:
        # fixed slots: the keypad keeps its place (a remount would draw the item twice), and what is shown
        # around it is replaced in place when it goes (a fragment rerun leaves a vanished last element behind)
        form_slot = st.empty()
        rating.prefetch(f, user.name)  # before the keypad: it holds the next item, shown at once by the next key
        keypad("rate", tid, "f" if f.flagging else "12345suf", f.handled, BUTTONS,
               on_press=lambda: rating.press("rate", user.name, KEYS),
               item=(_item(task), _item(rating.next_in_line(f))), advance="12345s", failed=f.failed)
        done_slot = st.empty()
        if task is None:
            with done_slot:
                rating.nothing_left(f, "Nothing left for you in this campaign — thank you! Press **U** to revisit "
                                       "your last answer.")
        elif f.flagging == task.task_id:
            with form_slot.container():
                flags.flag_form(f, "rate", user.name)
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
                       f"is under the item)")


f.progress_at = 0.0  # a full run re-reads the progress bar
panel()
