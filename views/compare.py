"""Compare: two rankings for a query, side by side and blind (A / B / T for tie, S skip, U undo)."""

import streamlit as st

from core import campaigns as camp
from ui import rating
from ui.auth import require
from ui.components import product_list, query_banner

user = require("compare")
f = rating.flow("compare")
names = camp.rater_campaigns(user.name, "side_by_side")
if not names:
    st.title("Compare")
    st.info("You are not a rater of any active side-by-side campaign yet. An admin or researcher can create one "
            "on **Data and campaigns** (kind *side_by_side*).", icon=":material/inbox:")
    st.stop()

head, pick = st.columns([3, 2], vertical_alignment="bottom")
head.title("Compare")
campaign = pick.selectbox("Campaign", names, key="compare_campaign", label_visibility="collapsed") \
    if len(names) > 1 else names[0]
rating.ensure_task(f, campaign, user.name)
rating.show_flash(f)

disabled = f.task is None
bar = st.columns([1, 1, 1, 1, 1, 3], vertical_alignment="center")
for col, (label, answer, key) in zip(bar, [("A is better", "A", "A"), ("Tie", "tie", "T"), ("B is better", "B", "B")]):
    col.button(label, key=f"compare_{key.lower()}", shortcut=key, on_click=rating.compare,
               args=("compare", user.name, answer), disabled=disabled, width="stretch",
               type="primary" if answer != "tie" else "secondary")
bar[3].button("Skip", key="compare_skip", shortcut="S", on_click=rating.skip, args=("compare", user.name),
              disabled=disabled, width="stretch")
bar[4].button("Undo", key="compare_undo", shortcut="U", on_click=rating.undo, args=("compare", user.name),
              width="stretch")
p = camp.progress(campaign)
bar[5].progress(min(1.0, p.fraction), text=f"{p.ratings_done}/{p.ratings_required} comparisons")

if f.task is None:
    st.success("Nothing left to compare in this campaign — thank you! Press **U** to revisit your last answer.",
               icon=":material/task_alt:")
else:
    query_banner(f.task.query, f.task.language)
    st.caption("Which list would serve a shopper who typed this query better? Judge the whole list, top first.")
    a, b = st.columns(2, gap="large", border=True)
    with a:
        st.subheader("A")
        product_list(f.task.list_a)
    with b:
        st.subheader("B")
        product_list(f.task.list_b)
    st.caption(f"task {f.task.task_id} · keys: A, B, T tie, S skip, U undo")

if st.toggle("Training mode: reveal which model was A and B after saving", key="compare_training") \
        and f.last and f.last["kind"] == "compare":
    sides = camp.comparison_sides(f.last["id"])
    if sides:
        st.caption(f"Your last answer: **{f.last['value']}** — A was `{sides[0]}`, B was `{sides[1]}`.")
ms = rating.finish_timing(f)
if ms is not None:
    st.caption(f"Saved · next comparison ready in {ms:.0f} ms (server)")
