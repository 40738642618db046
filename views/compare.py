"""Compare: two rankings for a query, side by side and blind (A / B / T for tie, S skip, U undo, F flag; 1–4 pick
an optional reason sent with the answer).

The panel is an ``st.fragment`` (an answer reruns it only) with the next comparison leased ahead; a new
comparison scrolls to the top (ui/keypad.py). The lists are compact: about ten items a side at 1366×768.
"""

import streamlit as st

from core import campaigns as camp
from core.campaigns.answer_reasons import COMPARE_REASONS
from ui import campaigns, flags, rating
from ui.auth import require
from ui.components import product_list
from ui.keypad import keypad

user = require("compare")
f = rating.flow("compare")
mine = camp.rater_campaign_list(user.name, "side_by_side")  # active and paused ones, with their instructions
names = [c.name for c in mine]
if not names:
    st.title("Compare")
    st.info("You are not a rater of any active side-by-side campaign yet. An admin or researcher can create one "
            "on **Data and campaigns** (kind *side_by_side*).", icon=":material/inbox:")
    st.stop()

campaign = rating.campaign_picker(f, names, "compare_campaign", "Compare", user.name)
campaigns.instructions(mine, campaign, "compare_instructions")
rating.ensure_task(f, campaign, user.name)
ANSWERS = [("A is better", "A", "a"), ("Tie", "tie", "t"), ("B is better", "B", "b")]
REASON_KEYS = {str(i): reason for i, reason in enumerate(COMPARE_REASONS, 1)}
BUTTONS = ([f"compare_{key}" for _, _, key in ANSWERS] + ["compare_skip", "compare_undo", "compare_flag"]
           + [f"compare_reason_{k}" for k in REASON_KEYS])
KEYS = {**{key: (rating.compare, answer) for _, answer, key in ANSWERS}, "s": (rating.skip,), "u": (rating.undo,),
        "f": (rating.toggle_flag,), **{k: (rating.pick_reason, reason) for k, reason in REASON_KEYS.items()}}


@st.fragment
def panel() -> None:
    task, tid = rating.panel_start(f)
    bar = st.columns([1.25, 1, 1.25, 1, 1, 2.2], vertical_alignment="center")
    for col, (label, answer, key) in zip(bar, ANSWERS):
        col.button(f"{label} · {key.upper()}", key=f"compare_{key}", on_click=rating.compare,
                   args=("compare", user.name, answer, tid), disabled=task is None, width="stretch", wrap=True,
                   type="primary" if answer != "tie" else "secondary")
    bar[3].button("Skip · S", key="compare_skip", on_click=rating.skip, args=("compare", user.name, tid),
                  disabled=task is None, width="stretch", wrap=True)
    bar[4].button("Undo · U", key="compare_undo", on_click=rating.undo, args=("compare", user.name, tid),
                  width="stretch", wrap=True)
    with bar[5]:
        keypad("compare", tid, "f" if f.flagging else "atbsuf1234", f.handled, BUTTONS,
               on_press=lambda: rating.press("compare", user.name, KEYS))
    why = st.columns([1.1] * len(REASON_KEYS) + [0.8, 1.6], vertical_alignment="center")
    for col, (k, reason) in zip(why, REASON_KEYS.items()):
        col.button(f"{k} · {reason}", key=f"compare_reason_{k}", on_click=rating.pick_reason,
                   args=("compare", user.name, reason, tid), disabled=task is None, width="stretch", wrap=True,
                   type="primary" if f.reason == reason else "tertiary")
    why[-2].button("Flag · F", key="compare_flag", icon=":material/flag:", on_click=rating.toggle_flag,
                   args=("compare", user.name, tid), disabled=task is None, width="stretch")
    why[-1].caption(f"Reason: **{f.reason}**" if f.reason else "Reason (optional): keys 1–4, then the answer")
    if task is None:
        rating.nothing_left(f, "Nothing left to compare in this campaign — thank you! Press **U** to revisit your "
                               "last answer.")
    else:
        flags.item_header(f, "compare", user.name)
        st.caption(f"task {task.task_id} · keys: A, B, T tie, S skip, U undo, F flag, 1–4 reason · Which list would serve a shopper "
                   f"who typed this query better? Judge the whole list, top first.")
        a, b = st.columns(2, gap="medium", border=True)
        with a:
            st.markdown("#### A")
            product_list(task.list_a)
        with b:
            st.markdown("#### B")
            product_list(task.list_b)
    p = rating.progress(f)
    st.progress(min(1.0, p.fraction), text=f"{p.ratings_done}/{p.ratings_required} comparisons")
    if st.toggle("Training mode: reveal which model was A and B after saving", key="compare_training") \
            and f.last and f.last["kind"] == "compare":
        sides = camp.comparison_sides(f.last["id"])
        if sides:
            st.caption(f"Your last answer: **{f.last['value']}** — A was `{sides[0]}`, B was `{sides[1]}`."
                       + (f" Reason: {f.last['reason']}." if f.last.get("reason") else ""))
    ms = rating.finish_timing(f)
    if ms is not None:
        st.caption(f"Saved · next comparison ready in {ms:.0f} ms on the server")
    rating.prefetch(f, user.name)


f.progress_at = 0.0  # a full run re-reads the progress bar
panel()
