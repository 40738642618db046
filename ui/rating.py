"""The rater's loop for the Rate and Compare pages: hold the task in view, answer it, show the next.

Answers come from the keypad (ui/keypad.py: every key names the task the browser showed) or the buttons
(their arguments name the task of the run that drew them); an answer meant for a task no longer in view
is refused with a note, never applied to the next one. The pages draw the panel in an ``st.fragment``, so
an answer reruns the panel only, and the task after the one in view is leased ahead (``prefetch``, at
the end of the run): an answer is one write (``submit_grade``) and the next item is already in memory.
The server time from the answer to the end of that rerun is ``Flow.timings`` (shown as "(server)"); the
browser measures key → next item on screen itself. Nothing here loads a model or computes metrics: the path
is ``core.campaigns`` calls on the store only (ui/ never touches db).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import streamlit as st

from core import campaigns as camp
from core.campaigns.assignment import has_work
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from ui import auth as ui_auth, keypad

# Worked examples for the guidelines panel: (query, product, level, why).
EXAMPLES = (
    ("red iphone 12 case", "Red silicone case for iPhone 12", 5, "exactly what was asked"),
    ("red iphone 12 case", "Blue silicone case for iPhone 12", 4, "right product, wrong colour: a close substitute"),
    ("red iphone 12 case", "Screen protector for iPhone 12", 3, "a complement: related, not what was asked"),
    ("red iphone 12 case", "Red case for Samsung Galaxy S21", 2, "does not fit the phone: does not satisfy the query"),
    ("red iphone 12 case", "Garden hose, 50 ft", 1, "unrelated"),
    ("zapatillas running mujer", "Women's road running shoes", 5, "judge the meaning, whatever the language"),
)


TOO_FAST = "Too fast — that answer was meant for an item no longer in view; nothing was saved. Press again."
LEASE_MARGIN_S = 60  # a prefetched task whose lease ends sooner than this is not shown: lease a fresh one
PROGRESS_TTL_S = 5.0  # the progress bar is re-read at most this often while rating (and on every full run)


@dataclass
class Flow:
    """One page's rating state in the session: the campaign, the task in view and the ones leased ahead."""

    campaign: str | None = None
    task: camp.TaskView | None = None
    finished: bool = False
    shown_at: float = 0.0
    t_key: float | None = None
    timings: list[float] = field(default_factory=list)
    last: dict | None = None  # the last saved answer: {"kind", "id", "task_id", "value"}
    flash: tuple[str, str] | None = None  # (kind, message) shown once
    ahead: list[camp.TaskView] = field(default_factory=list)  # leased, not yet shown (prefetch; undo)
    none_ahead: bool = False  # the last prefetch found nothing more
    handled: int = 0  # the last key press (its browser sequence number) answered
    failed: int = 0  # the last key press whose answer was refused (a warning, or the campaign stopped taking them)
    progress: camp.Progress | None = None
    progress_at: float = 0.0
    blocked: str | None = None  # why the campaign hands out nothing now (paused, closed), shown instead of the item
    flagging: int | None = None  # the task whose flag form is open (key F), else None
    reason: str | None = None  # Compare: the reason picked (keys 1–4) for the answer to the task in view


def flow(prefix: str) -> Flow:
    key = f"{prefix}_flow"
    if not isinstance(st.session_state.get(key), Flow):
        st.session_state[key] = Flow()
    return st.session_state[key]


def _fresh(view: camp.TaskView) -> bool:
    expires = view.lease_expires_at
    return expires is None or (expires - datetime.now(timezone.utc)).total_seconds() > LEASE_MARGIN_S


def _fetch(f: Flow, rater: str) -> None:
    """Show the next task: the one leased ahead when its lease is fresh, else lease one now."""
    view = None
    while f.ahead and view is None:
        candidate = f.ahead.pop(0)
        view = candidate if _fresh(candidate) else None
    if view is None:
        view = camp.next_task(f.campaign, rater, exclude=tuple(v.task_id for v in f.ahead))
        f.none_ahead = False
    f.task = view
    f.finished = f.task is None
    f.shown_at = time.time()
    f.flagging = f.reason = None


def next_in_line(f: Flow) -> camp.TaskView | None:
    """The task the next answer will show (leased ahead, its lease fresh), or None when it must be leased then."""
    return f.ahead[0] if f.ahead and _fresh(f.ahead[0]) else None


def prefetch(f: Flow, rater: str) -> None:
    """Lease the task after the one in view, so the next answer shows it without a store round trip.

    Called at the end of the page run, after the item is drawn. The write stays the lease protocol's:
    the answer to a prefetched task is checked against its lease like any other.
    """
    if f.task is None or f.ahead or f.none_ahead:
        return
    try:
        view = camp.next_task(f.campaign, rater, exclude=(f.task.task_id,))
    except camp.CampaignError:  # paused, closed or taken off meanwhile: the next answer says so
        return
    if view is None:
        f.none_ahead = True
    elif view.task_id != f.task.task_id:
        f.ahead.append(view)


def ensure_task(f: Flow, campaign: str, rater: str) -> None:
    """Keep the task in view, or lease the rater's next one when there is none (or the campaign changed). A
    campaign found paused or closed is asked again on every full run, so a resumed one carries on."""
    if f.campaign != campaign:
        f.campaign, f.task, f.finished, f.last = campaign, None, False, None
        f.ahead, f.none_ahead, f.progress, f.blocked = [], False, None, None
    if (f.task is None and not f.finished) or f.blocked:
        f.blocked = None
        try:
            _fetch(f, rater)
        except camp.CampaignNotActiveError as exc:
            _block(f, exc)
        except camp.CampaignError as exc:  # e.g. the rater was taken off it
            f.task, f.finished, f.flash = None, True, ("warning", str(exc))


def _block(f: Flow, exc: camp.CampaignNotActiveError) -> None:
    """The campaign hands out nothing now: drop the task in view and those leased ahead, and say why."""
    f.task, f.finished, f.ahead, f.none_ahead = None, True, [], False
    f.blocked = (f"**{exc.campaign}** is paused: no new items for now. Your answers so far are saved; the items come "
                 f"back here when a researcher resumes the campaign." if exc.status == "paused" else
                 f"**{exc.campaign}** is {exc.status}: labelling is over, there is nothing more to do here. "
                 f"Thank you!")


def nothing_left(f: Flow, done: str) -> None:
    """The panel without an item: why the campaign hands out nothing (paused, closed), or ``done``."""
    if f.blocked:
        st.warning(f.blocked, icon=":material/pause_circle:")
    else:
        st.success(done, icon=":material/task_alt:")


def pick_campaign(names: list[str], rater: str, current: str | None) -> int:
    """Index of the campaign to open: the one already open, else the first (newest) with work left for the
    rater, else the newest."""
    if current in names:
        return names.index(current)
    for i, name in enumerate(names):
        try:
            if has_work(name, rater):
                return i
        except camp.CampaignError:
            continue
    return 0


def progress(f: Flow) -> camp.Progress:
    """The campaign's progress, re-read when older than a few seconds (a full page run sets
    ``f.progress_at = 0``): an answer reruns the panel without a progress query each time."""
    now = time.time()
    if f.progress is None or f.progress.campaign != f.campaign or now - f.progress_at > PROGRESS_TTL_S:
        f.progress, f.progress_at = camp.progress(f.campaign), now
    return f.progress


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
    except camp.CampaignNotActiveError as exc:  # paused or closed since the item was shown
        _block(f, exc)
    except camp.CampaignError as exc:
        f.flash = ("warning", f"{exc}")
        try:
            _fetch(f, rater)
        except camp.CampaignError:  # e.g. taken off the campaign: nothing more to fetch
            f.task, f.finished = None, True


def _seen(f: Flow, task_id: int | None) -> bool:
    """Whether the answer is for the task in view (``task_id``: the task the rater saw; None: not known, a
    button of this run). A stale answer is refused with a note, never applied to the next task."""
    if f.task is None:
        return False
    if task_id is not None and task_id != f.task.task_id:
        f.flash = ("warning", TOO_FAST)
        return False
    return True


def grade(prefix: str, rater: str, level: int, task_id: int | None = None) -> None:
    f = flow(prefix)

    def act():
        if not _seen(f, task_id):
            return
        label_id = camp.submit_grade(f.task.assignment_id, rater, level, seconds=time.time() - f.shown_at)
        f.last = {"kind": "grade", "id": label_id, "task_id": f.task.task_id, "value": level}
        _fetch(f, rater)
    _guard(f, rater, act)


def compare(prefix: str, rater: str, answer: str, task_id: int | None = None) -> None:
    f = flow(prefix)

    def act():
        if not _seen(f, task_id):
            return
        cid = camp.submit_comparison(f.task.assignment_id, rater, answer, reason=f.reason,
                                     seconds=time.time() - f.shown_at)
        f.last = {"kind": "compare", "id": cid, "task_id": f.task.task_id, "value": answer, "reason": f.reason}
        _fetch(f, rater)
    _guard(f, rater, act)


def skip(prefix: str, rater: str, task_id: int | None = None) -> None:
    f = flow(prefix)

    def act():
        if not _seen(f, task_id):
            return
        camp.skip(f.task.assignment_id, rater)
        f.last = None
        _fetch(f, rater)
    _guard(f, rater, act)


def undo(prefix: str, rater: str, task_id: int | None = None) -> None:
    f = flow(prefix)

    def act():
        if task_id is not None and f.task is not None and task_id != f.task.task_id:
            f.flash = ("warning", TOO_FAST)
            return
        view = camp.undo_last(rater, f.campaign)
        if f.task is not None and f.task.task_id != view.task_id:
            f.ahead.insert(0, f.task)  # the task that was in view keeps its lease and comes back next
        f.task, f.finished, f.last, f.shown_at = view, False, None, time.time()
        f.flagging = f.reason = None
        f.flash = ("info", "Undone: the previous item is back.")
    _guard(f, rater, act)


def toggle_flag(prefix: str, rater: str, task_id: int | None = None) -> None:
    """Key F: open (or close) the flag form of the task in view; no store call (``ui.flags`` saves the flag)."""
    f = flow(prefix)
    if _seen(f, task_id):
        f.flagging = None if f.flagging == f.task.task_id else f.task.task_id


def pick_reason(prefix: str, rater: str, reason: str, task_id: int | None = None) -> None:
    """Compare's keys 1–4: pick (or drop, pressed again) the reason sent with the next answer; no store call."""
    f = flow(prefix)
    if _seen(f, task_id):
        f.reason = None if f.reason == reason else reason


def press(prefix: str, rater: str, actions: dict) -> None:
    """The keypad's callback: answer the key press for the task the browser showed (see ui/keypad.py).

    ``actions`` maps a key to ``(function, *args)`` of this module (e.g. ``"4": (grade, 4)``)."""
    event = keypad.pressed(prefix)
    if event is None:
        return
    f = flow(prefix)
    f.handled = max(f.handled, int(event.get("seq") or 0))
    action = actions.get(str(event.get("key")))
    shown = event.get("task")
    if action is None or not (shown is None or isinstance(shown, int)):
        return
    if shown is None and action[0] is not undo:  # nothing was in view: only undo means anything
        return
    action[0](prefix, rater, *action[1:], task_id=shown if shown is not None else None)
    if f.blocked or (f.flash is not None and f.flash[0] == "warning"):
        f.failed = f.handled


def finish_timing(f: Flow) -> float | None:
    """Close the click-to-rendered measurement (call at the end of the page); returns it in ms."""
    if f.t_key is None:
        return None
    ms = (time.perf_counter() - f.t_key) * 1000
    f.t_key = None
    f.timings = (f.timings + [ms])[-200:]
    return ms


def campaign_picker(f: Flow, names: list[str], key: str, title: str, rater: str) -> str:
    """The page's title and, with several campaigns, a picker that first opens on one with work left for
    ``rater``; returns the campaign chosen."""
    head, pick = st.columns([3, 2], vertical_alignment="bottom")
    head.title(title)
    if len(names) == 1:
        return names[0]
    if st.session_state.get(key) not in names:  # first visit: a campaign with work left
        st.session_state[key] = names[pick_campaign(names, rater, f.campaign)]
    return pick.selectbox("Campaign", names, key=key, label_visibility="collapsed")


def panel_start(f: Flow):
    """The start of a Rate/Compare panel (a fragment): back to the whole app when an answer found the session
    ended (app.py says why), the flash message, and the task in view with its id (None when there is none)."""
    if ui_auth.current_user() is None:
        st.rerun(scope="app")
    show_flash(f, st.container())  # always one slot, so the panel below keeps its place (the keypad is not remounted)
    return f.task, (f.task.task_id if f.task else None)


def show_flash(f: Flow, where=st) -> None:
    if f.flash:
        kind, msg = f.flash
        getattr(where, kind)(msg)
        f.flash = None


def guidelines() -> None:
    """The level definitions and worked examples."""
    for level in (5, 4, 3, 2, 1):
        st.markdown(f"**{level} · {LEVEL_NAMES[level]}** — {LEVEL_MEANINGS[level]}")
    st.markdown("**Examples**\n\n| query | product | level | why |\n|---|---|---|---|\n" + "\n".join(
        f"| {q} | {p} | {level} | {why} |" for q, p, level, why in EXAMPLES))
    st.caption("Judge the product as a shopper who typed the query would. Broken or offensive listings are 1. "
               "Unsure between two levels? Pick the lower one. Skip (S) when you cannot judge.")
