"""The rater's loop for the Rate and Compare pages: hold the task in view, answer it, fetch the next.

Answers are button callbacks (``on_click``), so the next task is fetched *before* the page script
reruns and one rerun shows it. The server time from the click to the end of that rerun is measured
(``Flow.timings``, shown under the buttons, and what ``bench/keypress.py`` reports). Nothing here loads a
model or computes metrics: the path is ``core.campaigns`` calls on the store only (ui/ never touches db).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import streamlit as st

from core import campaigns as camp
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from ui import auth as ui_auth

# Worked examples for the guidelines panel: (query, product, level, why).
EXAMPLES = (
    ("red iphone 12 case", "Red silicone case for iPhone 12", 5, "exactly what was asked"),
    ("red iphone 12 case", "Blue silicone case for iPhone 12", 4, "right product, wrong colour: a close substitute"),
    ("red iphone 12 case", "Screen protector for iPhone 12", 3, "a complement: related, not what was asked"),
    ("red iphone 12 case", "Red case for Samsung Galaxy S21", 2, "does not fit the phone: does not satisfy the query"),
    ("red iphone 12 case", "Garden hose, 50 ft", 1, "unrelated"),
    ("zapatillas running mujer", "Women's road running shoes", 5, "judge the meaning, whatever the language"),
)


@dataclass
class Flow:
    """One page's rating state in the session: the campaign and the task in view."""

    campaign: str | None = None
    task: camp.TaskView | None = None
    finished: bool = False
    shown_at: float = 0.0
    t_key: float | None = None
    timings: list[float] = field(default_factory=list)
    last: dict | None = None  # the last saved answer: {"kind", "id", "task_id", "value"}
    flash: tuple[str, str] | None = None  # (kind, message) shown once


def flow(prefix: str) -> Flow:
    key = f"{prefix}_flow"
    if not isinstance(st.session_state.get(key), Flow):
        st.session_state[key] = Flow()
    return st.session_state[key]


def _fetch(f: Flow, rater: str) -> None:
    f.task = camp.next_task(f.campaign, rater)
    f.finished = f.task is None
    f.shown_at = time.time()


def ensure_task(f: Flow, campaign: str, rater: str) -> None:
    """Keep the task in view, or lease the rater's next one when there is none (or the campaign changed)."""
    if f.campaign != campaign:
        f.campaign, f.task, f.finished, f.last = campaign, None, False, None
    if f.task is None and not f.finished:
        try:
            _fetch(f, rater)
        except camp.CampaignError as exc:  # paused or closed meanwhile, or the rater was taken off it
            f.task, f.finished, f.flash = None, True, ("warning", str(exc))


def _guard(f: Flow, rater: str, action) -> None:
    """Run an answer; a lost lease or a stale view is reported and the next task fetched.

    The session is checked first (callbacks run before app.py does): a session that lost its rights writes
    nothing and is signed out, and app.py shows why.
    """
    f.t_key = time.perf_counter()
    if ui_auth.check_session() is None:
        return
    try:
        action()
    except camp.NothingToUndoError:
        f.flash = ("info", "Nothing to undo yet.")
    except camp.CampaignError as exc:
        f.flash = ("warning", f"{exc}")
        try:
            _fetch(f, rater)
        except camp.CampaignError:  # e.g. taken off the campaign: nothing more to fetch
            f.task, f.finished = None, True


def grade(prefix: str, rater: str, level: int) -> None:
    f = flow(prefix)

    def act():
        if f.task is None:
            return
        label_id = camp.submit_grade(f.task.assignment_id, rater, level, seconds=time.time() - f.shown_at)
        f.last = {"kind": "grade", "id": label_id, "task_id": f.task.task_id, "value": level}
        _fetch(f, rater)
    _guard(f, rater, act)


def compare(prefix: str, rater: str, answer: str) -> None:
    f = flow(prefix)

    def act():
        if f.task is None:
            return
        cid = camp.submit_comparison(f.task.assignment_id, rater, answer, seconds=time.time() - f.shown_at)
        f.last = {"kind": "compare", "id": cid, "task_id": f.task.task_id, "value": answer}
        _fetch(f, rater)
    _guard(f, rater, act)


def skip(prefix: str, rater: str) -> None:
    f = flow(prefix)

    def act():
        if f.task is None:
            return
        camp.skip(f.task.assignment_id, rater)
        f.last = None
        _fetch(f, rater)
    _guard(f, rater, act)


def undo(prefix: str, rater: str) -> None:
    f = flow(prefix)

    def act():
        # the task that was in view keeps its lease (next_task hands it back after this one)
        view = camp.undo_last(rater, f.campaign)
        f.task, f.finished, f.last, f.shown_at = view, False, None, time.time()
        f.flash = ("info", "Undone: the previous item is back.")
    _guard(f, rater, act)


def finish_timing(f: Flow) -> float | None:
    """Close the click-to-rendered measurement (call at the end of the page); returns it in ms."""
    if f.t_key is None:
        return None
    ms = (time.perf_counter() - f.t_key) * 1000
    f.t_key = None
    f.timings = (f.timings + [ms])[-200:]
    return ms


def show_flash(f: Flow) -> None:
    if f.flash:
        kind, msg = f.flash
        getattr(st, kind)(msg)
        f.flash = None


def guidelines() -> None:
    """The level definitions and worked examples."""
    for level in (5, 4, 3, 2, 1):
        st.markdown(f"**{level} · {LEVEL_NAMES[level]}** — {LEVEL_MEANINGS[level]}")
    st.markdown("**Examples**")
    st.dataframe(pd.DataFrame(EXAMPLES, columns=["query", "product", "level", "why"]), hide_index=True,
                 width="stretch")
    st.caption("Judge the product as a shopper who typed the query would. Broken or offensive listings are 1. "
               "Unsure between two levels? Pick the lower one. Skip (S) when you cannot judge.")
