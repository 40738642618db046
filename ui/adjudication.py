"""The Adjudicate page's loop: the pair in view, the keys (1–5 decide, N next, U undo the last decision) and the
tables of every rater's label, the models' predictions and the raters' comments.

Keys come from the rater keypad (``ui.keypad``): each press names the task shown (the pair's latest task, in the
"task N · keys" caption), and a press for a pair no longer in view is refused, never applied to the next one.
Decisions go through ``core.campaigns.adjudication`` with the signed-in user (role and session checked there).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.campaigns import adjudication as adj
from core.campaigns.flags import REASON_NAMES
from core.errors import RelevanceError
from core.scale import LEVEL_MEANINGS, LEVEL_NAMES
from core.workflows.adjudication import queue_predictions
from core.workflows.analytics import section_versions
from ui import auth as ui_auth, keypad
from ui.components import as_text

PREFIX = "adjudicate"
BUTTONS = [f"adj_level_{level}" for level in range(1, 6)] + ["adj_next", "adj_undo"]
TOO_FAST = "Too fast — that key was meant for a pair no longer in view; nothing was saved. Press again."


def _state() -> dict:
    """This session's loop: pairs passed (decided or skipped), the pair in view, the last decision, the last key."""
    return st.session_state.setdefault("adj_state", {"passed": set(), "view": None, "pinned": None, "last": None,
                                                     "handled": 0, "flash": None})


def current(queue: pd.DataFrame, url: str) -> pd.Series | None:
    """The pair to show: one brought back by U (even when the filters leave it out now), else the one in view while
    it is still queued, else the first not passed this session."""
    s = _state()
    keys = list(zip(queue["query_pk"], queue["product_pk"]))
    row = None
    if s.get("pinned") is not None:
        whole = adj.queue(url, min_range=0, include_decided=True)
        found = whole[(whole["query_pk"] == s["pinned"][0]) & (whole["product_pk"] == s["pinned"][1])]
        row = found.iloc[0] if len(found) else None
        s["pinned"] = None if row is None else s["pinned"]
    if row is None and s["view"] is not None and tuple(s["view"][:2]) in keys \
            and tuple(s["view"][:2]) not in s["passed"]:
        row = queue.iloc[keys.index(tuple(s["view"][:2]))]
    if row is None:
        row = next((queue.iloc[i] for i, k in enumerate(keys) if k not in s["passed"]), None)
    s["view"] = None if row is None else (int(row["query_pk"]), int(row["product_pk"]), int(row["task_id"]))
    return row


def pinned() -> bool:
    """Whether U brought a pair back that the page shows whatever the filters."""
    return _state().get("pinned") is not None


def passed() -> int:
    return len(_state()["passed"])


def restart() -> None:
    _state()["passed"].clear()


def _act(user, task_id: int | None, action) -> None:
    """Run ``action(query_pk, product_pk)`` on the pair in view when ``task_id`` is that pair's task."""
    s = _state()
    if ui_auth.check_session() is None:  # the session ended: nothing is written, app.py says why
        return
    if task_id is not None and (s["view"] is None or s["view"][2] != task_id):
        s["flash"] = ("warning", TOO_FAST)
        return
    try:
        action(s)
    except RelevanceError as exc:
        s["flash"] = ("error", str(exc))


def decide(user, level: int, task_id: int | None = None) -> None:
    def act(s):
        if s["view"] is None:
            return
        qpk, ppk, _ = s["view"]
        adj.decide(qpk, ppk, level, user)
        s["passed"].add((qpk, ppk))
        s["pinned"] = None
        s["last"] = (qpk, ppk, level)
        s["flash"] = ("success", f"Decided **{level} · {LEVEL_NAMES[level]}**: the pair's label in force now. "
                                 f"U takes it back.")
    _act(user, task_id, act)


def skip(user, task_id: int | None = None) -> None:
    def act(s):
        if s["view"] is not None:
            s["passed"].add(tuple(s["view"][:2]))
        s["pinned"] = None
    _act(user, task_id, act)


def undo(user, task_id: int | None = None) -> None:
    """Withdraw this session's last decision and show its pair again."""
    def act(s):
        if s["last"] is None:
            s["flash"] = ("info", "No decision of yours to undo in this session.")
            return
        qpk, ppk, level = s["last"]
        adj.withdraw(qpk, ppk, user)
        s["passed"].discard((qpk, ppk))
        s["last"], s["pinned"] = None, (qpk, ppk)
        s["flash"] = ("info", f"Decision {level} withdrawn: the raters' labels decide the pair again.")
    _act(user, None, act)


def press(user) -> None:
    """The keypad's callback: 1–5 decide, N next, U undo, for the pair the browser showed."""
    event = keypad.pressed(PREFIX)
    if event is None:
        return
    s = _state()
    s["handled"] = max(s["handled"], int(event.get("seq") or 0))
    key, shown = str(event.get("key")), event.get("task")
    if key == "u":
        undo(user)
    elif shown is None or not isinstance(shown, int):
        return
    elif key in "12345":
        decide(user, int(key), shown)
    elif key == "n":
        skip(user, shown)


def controls(user, row: pd.Series | None) -> None:
    """The decision buttons, Next and Undo, and the keypad."""
    tid = None if row is None else int(row["task_id"])
    decided = None if row is None or pd.isna(row["decided_level"]) else int(row["decided_level"])
    for level in (5, 4, 3, 2, 1):
        st.button(f"**{level}** · {LEVEL_NAMES[level]}", key=f"adj_level_{level}", help=LEVEL_MEANINGS[level],
                  on_click=decide, args=(user, level, tid), disabled=row is None, width="stretch",
                  type="primary" if decided == level else "secondary")
    a, b = st.columns(2)
    a.button("Next · N", key="adj_next", icon=":material/skip_next:", on_click=skip, args=(user, tid),
             disabled=row is None, width="stretch")
    b.button("Undo · U", key="adj_undo", icon=":material/undo:", on_click=undo, args=(user,), width="stretch")
    keypad.keypad(PREFIX, tid, "12345nu", _state()["handled"], BUTTONS, on_press=lambda: press(user))


def show_flash() -> None:
    s = _state()
    if s["flash"]:
        getattr(st, s["flash"][0])(s["flash"][1])
        s["flash"] = None


@st.cache_data(max_entries=8, show_spinner=False)
def _predictions(url: str, pairs: tuple, version: tuple) -> pd.DataFrame:
    return queue_predictions(pd.DataFrame(list(pairs), columns=["query_pk", "product_pk", "query_id", "product_id"]),
                             url)


def predictions(url: str, queue: pd.DataFrame) -> pd.DataFrame:
    """The models' predictions on the queue's pairs, read once per queue and state of the predictions."""
    pairs = tuple(map(tuple, queue[["query_pk", "product_pk", "query_id", "product_id"]].astype(object).to_numpy()))
    return _predictions(url, pairs, section_versions(url)["predictions"])


def evidence(url: str, row: pd.Series, preds: pd.DataFrame) -> None:
    """Every rater's label, the models' predictions and the raters' comments on the pair in view (item text shown
    as text, never as Markdown)."""
    qpk, ppk = int(row["query_pk"]), int(row["product_pk"])
    st.markdown("**Raters' labels**")
    st.markdown("\n".join(map(_label_line, adj.pair_labels(qpk, ppk, url=url).itertuples()))
                or "No rater label in force on this pair (flagged before anyone graded it).")
    st.markdown("**Models**")
    mine = preds[(preds["query_pk"] == qpk) & (preds["product_pk"] == ppk)]
    st.markdown("\n".join(f"- {as_text(r.model)}: expected {r.expected:.2f}, most likely **{int(r.argmax)}**"
                          for r in mine.itertuples())
                or "No stored prediction on this pair (`relevance score MODEL --judged`).")
    st.markdown("**Comments**")
    st.markdown("\n".join(map(_flag_line, adj.pair_flags(row["query_id"], row["product_id"], url=url).itertuples()))
                or "No flag or comment on this pair.")


def _label_line(r) -> str:
    gold = " (gold task)" if r.gold_task else ""
    spent = "" if pd.isna(r.seconds_spent) else f" · {r.seconds_spent:.1f} s"
    return f"- {as_text(r.rater)} **{r.level}** · {as_text(r.campaign)}{gold} · {r.created_at:%Y-%m-%d %H:%M} UTC{spent}"


def _flag_line(f) -> str:
    comment = f": {as_text(f.comment)}" if isinstance(f.comment, str) and f.comment else ""
    if pd.isna(f.resolved_at):
        state = " · *open*"
    else:
        why = f" ({as_text(f.resolution)})" if isinstance(f.resolution, str) and f.resolution else ""
        state = f" · resolved by {as_text(f.resolved_by)}{why}"
    return f"- {as_text(f.rater)} · {REASON_NAMES.get(f.reason, f.reason)}{comment}{state}"
