"""The rater's loop behind the Rate and Compare pages (ui/rating.py, ui/keypad.py), through AppTest: the next
task is leased ahead, a key press names the task the browser showed and one meant for a task no longer in
view is refused (never applied to the next one), Rate opens a campaign with work left, the guidelines
keep their state. The browser side (keys after other widgets, fast double presses) is tests/browser/test_rating.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

import app_store
from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade
from core.campaigns.assignment import has_work
from core.store import auth
from core.store.session import session_scope
from db.models import Assignment, Comparison, Label
import test_app
from test_app import TIMEOUT, _use, app, ok
from ui.auth import USER_KEY


_app_template = test_app._app_template  # the session-scoped template fixture, shared with test_app.py


@pytest.fixture
def store(tmp_path, monkeypatch, _app_template) -> str:
    """The app's store (a grade and a side-by-side campaign; rita rates in both), per test."""
    return _use(_app_template, tmp_path, monkeypatch)


def _script(prefix: str, campaign: str) -> None:
    """A page-less run: show rita's task, then answer ``st.session_state["presses"]`` as the keypad would hand
    them over: each is (key, task) where task is an index into the tasks shown so far (-1: the one in view)."""
    import streamlit as st

    from ui import rating

    f = rating.flow(prefix)
    rating.ensure_task(f, campaign, "rita")
    shown = st.session_state.setdefault("shown", [f.task.task_id])
    rating.prefetch(f, "rita")  # what the page does at the end of its run
    keys = {**{str(n): (rating.grade, n) for n in range(1, 6)}, "a": (rating.compare, "A"),
            "b": (rating.compare, "B"), "s": (rating.skip,), "u": (rating.undo,)}
    for seq, (key, which) in enumerate(st.session_state.pop("presses", []), start=f.handled + 1):
        task = shown[which]
        st.session_state[f"{prefix}_keys"] = {"press": {"key": key, "task": task, "seq": seq}}
        rating.press(prefix, "rita", keys)
        if f.task is not None and f.task.task_id != shown[-1]:
            shown.append(f.task.task_id)
        rating.prefetch(f, "rita")  # what the page does at the end of its run
    st.session_state["flash"] = f.flash
    st.session_state["ahead"] = [v.task_id for v in f.ahead]


def _run(prefix: str, campaign: str, presses: list, at: AppTest | None = None) -> AppTest:
    if at is None:
        at = AppTest.from_function(_script, args=(prefix, campaign), default_timeout=TIMEOUT)
        at.session_state[USER_KEY] = auth.SessionUser("rita", "rater")
    at.session_state["presses"] = presses
    return ok(at.run())


def _labels(url: str) -> list:
    with session_scope(url) as s:
        return s.execute(select(Label.task_id, Label.level).where(Label.rater == "rita").order_by(Label.id)).all()


def test_the_next_task_is_leased_ahead_and_shown_by_the_next_answer(store):
    at = _run("rate", app_store.GRADE, [])
    first, ahead = at.session_state["shown"][0], at.session_state["ahead"]
    assert len(ahead) == 1 and ahead[0] != first
    with session_scope(store) as s:  # both leased to rita: the one in view and the one ahead
        leased = set(s.scalars(select(Assignment.task_id).where(Assignment.status == "leased")))
    assert leased == {first, ahead[0]}
    at = _run("rate", app_store.GRADE, [("4", -1), ("5", -1)], at)
    shown = at.session_state["shown"]
    assert shown[1] == ahead[0]  # the prefetched task, leased before the answer
    assert _labels(store) == [(shown[0], 4), (shown[1], 5)]


def test_a_press_for_a_task_no_longer_in_view_is_refused_not_applied_to_the_next(store):
    # two fast presses in a row, both for the first item (the browser had not drawn the second yet)
    at = _run("rate", app_store.GRADE, [("4", 0), ("2", 0)])
    shown = at.session_state["shown"]
    assert _labels(store) == [(shown[0], 4)]  # the second grade did not land on the item not yet seen
    assert at.session_state["flash"] == ("warning", "Too fast — that answer was meant for an item no longer in view; "
                                                    "nothing was saved. Press again.")
    assert len(shown) == 2


def test_every_label_is_for_a_task_the_rater_saw(store):
    at = _run("rate", app_store.GRADE, [("5", -1), ("3", 0), ("s", -1), ("1", -1), ("u", -1), ("2", -1),
                                       ("4", 1), ("4", -1)])
    shown = set(at.session_state["shown"])
    rows = _labels(store)
    assert rows and {task for task, _ in rows} <= shown
    assert [level for _, level in rows] == [5, 1, None, 2, 4]


def test_undo_brings_back_the_last_answer_then_the_item_that_was_in_view(store):
    at = _run("rate", app_store.GRADE, [("5", -1), ("u", -1), ("s", -1)])
    shown = at.session_state["shown"]
    # shown: first, second, first again (undone), then second (it kept its lease and comes back)
    assert shown[:2] == [shown[0], shown[1]] and len(set(shown)) == 2


def test_compare_keys_answer_the_comparison_in_view(store):
    at = _run("compare", app_store.SBS, [("a", -1), ("b", 0)])
    with session_scope(store) as s:
        rows = s.execute(select(Comparison.task_id, Comparison.answer).where(Comparison.rater == "rita")).all()
    assert [tuple(r) for r in rows] == [(at.session_state["shown"][0], "A")]


def test_has_work_reads_without_leasing(store):
    assert has_work(app_store.GRADE, "rita")
    with session_scope(store) as s:
        assert not s.scalars(select(Assignment)).all()
    assert not has_work(app_store.GRADE, "nobody")


def _finish(url: str, campaign: str, rater: str) -> None:
    while (task := next_task(campaign, rater, url=url)) is not None:
        submit_grade(task.assignment_id, rater, 3, url=url)


def test_rate_opens_the_first_campaign_with_work_left(store):
    create_campaign(CampaignSpec(name="grade-newest", n_tasks=2, raters=("rita",), candidates="store"), url=store)
    at = ok(app("rita"))
    assert at.selectbox(key="rate_campaign").value == "grade-newest"  # the newest, with work left
    _finish(store, "grade-newest", "rita")
    assert not has_work("grade-newest", "rita")
    at = ok(app("rita"))
    assert at.selectbox(key="rate_campaign").value == app_store.GRADE
    assert "Nothing left for you" not in "\n".join(s.value for s in at.success)


def test_a_grade_from_the_page_reruns_and_keeps_the_guidelines_state(store):
    at = ok(app("rita"))
    assert any(e.label.startswith("Guidelines") for e in at.expander)  # (a product's Description may come first)
    at.session_state["rate_guidelines"] = True  # as if the rater opened it
    at = ok(at.button(key="rate_level_4").click().run())
    assert at.session_state["rate_guidelines"] is True
    assert "next item ready in" in "\n".join(c.value for c in at.caption)
