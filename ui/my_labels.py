"""The My labels page's parts: the history table with its row picker, and the change buttons.

A change goes through ``core.campaigns.my_labels.change_label`` with the signed-in user (role, status, campaign
membership and session checked there, in the write's transaction); its outcome is shown once on the next run.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from core.campaigns import my_labels as ml
from core.errors import RelevanceError
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from ui import auth as ui_auth

PICKED = "my_labels_task"  # the task whose label is open below the table (a change gives the label a new id)
FLASH = "my_labels_flash"


def history_table(shown: pd.DataFrame) -> int | None:
    """The labels as a table with a single-row picker; returns the task of the label open below it (or None)."""
    view = pd.DataFrame({"when (UTC)": shown["created_at"].dt.strftime("%Y-%m-%d %H:%M"),
                         "campaign": shown["campaign"], "level": shown["level"],
                         "changed": shown["previous_level"].map(lambda v: "" if pd.isna(v) else f"was {v}"),
                         "query": shown["query"], "language": shown["language"], "product": shown["title"]})
    # Streamlit selects rows by position: the key names the list shown, so a new list drops an old selection.
    digest = hashlib.sha1(",".join(map(str, shown["task_id"])).encode()).hexdigest()[:12]
    picked = st.dataframe(view, hide_index=True, width="stretch", height=min(360, 35 * (len(view) + 1) + 3), on_select="rerun",
                          selection_mode="single-row", key=f"my_labels_table_{digest}")
    if picked and picked.selection.rows:
        st.session_state[PICKED] = int(shown["task_id"].iloc[picked.selection.rows[0]])
    task = st.session_state.get(PICKED)
    return task if task in set(shown["task_id"]) else None


def change_buttons(user, row: pd.Series) -> None:
    """One button per level; the level in force is marked. Off unless the campaign is active."""
    active = row["status"] == "active"
    was = "" if pd.isna(row["previous_level"]) else f" (you changed it from {row['previous_level']})"
    st.caption(f"In force: **{row['level']} · {LEVEL_NAMES[int(row['level'])]}**{was}")
    if not active:
        st.caption(f"Campaign **{row['campaign']}** is {row['status']}: labels change only while it is active.")
    cols = st.columns(5)
    for col, level in zip(cols, (5, 4, 3, 2, 1)):
        current = level == int(row["level"])
        col.button(f"**{level}** · {LEVEL_NAMES[level]}", key=f"my_labels_level_{level}", help=LEVEL_MEANINGS[level],
                   type="primary" if current else "secondary", disabled=not active or current, width="stretch",
                   on_click=_change, args=(user, int(row["label_id"]), level))


def _change(user, label_id: int, level: int) -> None:
    if ui_auth.check_session() is None:  # the session ended: nothing is written, app.py says why
        return
    try:
        ml.change_label(label_id, user, level)
        st.session_state[FLASH] = ("success", f"Changed to **{level} · {LEVEL_NAMES[level]}**. The earlier level "
                                              f"stays in the record; this one is in force.")
    except RelevanceError as exc:
        st.session_state[FLASH] = ("error", str(exc))


def show_flash() -> None:
    if flash := st.session_state.pop(FLASH, None):
        getattr(st, flash[0])(flash[1])
