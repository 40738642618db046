"""Adjudication in a real browser (issue 16, item 3), walked by a researcher with the keyboard.

The queue opens on the flagged pair (the rater's comment shown), then the pairs whose raters disagree most, each
with every rater's label and the models' stored predictions. Key 2 decides the flagged pair (its flag resolved),
N passes a pair, U takes the decision back, 4 decides again: the decision is the pair's label in force, exported
as source ``adjudicated``. A rater is refused the page.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app_server import store_app
from browser_kit import app_store, go, keys_idle, one_text, press_and_wait, settle, shot, sign_in, task_id

USERS = {k: app_store.USERS[k] for k in ("ada", "rita", "rex")}
RATERS = {"rhea": ("rater", "rhea-password"), "remy": ("rater", "remy-password")}
CAMPAIGN = "adjudicate-me"
# task position -> levels of rita, rhea, remy: ranges 4, 2 and 1 (the last one flagged by rita)
LEVELS = {0: (5, 1, 3), 1: (2, 4, 4), 2: (3, 3, 4)}
COMMENT = "is this a set of two?"


@pytest.fixture(scope="module")
def served(tmp_path_factory, _catalog_template):
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade
    from core.campaigns.flags import flag_task

    def fill(url, folder):
        app_store.prepare(url, folder, campaigns=False, users={**USERS, **RATERS})
        create_campaign(CampaignSpec(name=CAMPAIGN, n_tasks=3, raters=("rita", "rhea", "remy"), candidates="store",
                                     overlap_k=3), url=url)
        for i, rater in enumerate(("rita", "rhea", "remy")):
            for position in range(3):
                task = next_task(CAMPAIGN, rater, url=url)
                submit_grade(task.assignment_id, rater, LEVELS[position][i], seconds=4.0, url=url)
                if rater == "rita" and position == 2:
                    flag_task(task.assignment_id, "rita", "ambiguous_query", COMMENT, url=url)
        app_store.write_predictions(url, folder / "artifacts")  # the pairs with a label in force

    with store_app(tmp_path_factory, _catalog_template, "adjudicate", fill) as served:
        yield served


def _press(page, key: str) -> int:
    tid = press_and_wait(page, key)
    settle(page)
    return tid


def _decisions(url: str) -> list:
    from core.store.session import session_scope
    from db.models import Label
    with session_scope(url) as s:
        return s.execute(select(Label.task_id, Label.level, Label.rater, Label.supersedes_id)
                         .where(Label.source == "adjudicated").order_by(Label.id)).all()


def _caption(page) -> str:
    return one_text(page, r"^task \d+ · keys")


def test_a_researcher_adjudicates_with_the_keyboard(served, page):
    from core.campaigns.consensus import training_labels
    from core.campaigns.flags import list_flags

    sign_in(page, served["base"], "rex", USERS["rex"][1])
    page.get_by_role("heading", name="Where to go").wait_for()
    go(page, "Adjudicate")
    page.get_by_text("3 pair(s) in the queue").wait_for()  # flagged first, then ranges 4 and 2 (range 1 is out)
    flagged = task_id(page)
    assert "1 open flag(s)" in _caption(page) and "raters: remy 4 · rhea 3 · rita 3" in _caption(page)
    page.get_by_text(re.compile(rf"rita · Ambiguous query: {re.escape(COMMENT)} · open")).wait_for()
    shot(page, "adjudicate-flagged")

    widest = _press(page, "2")  # decide the flagged pair: 2
    page.get_by_text("Decided 2 · Irrelevant").wait_for()
    assert [tuple(d) for d in _decisions(served["url"])] == [(None, 2, "rex", None)]
    assert list_flags(served["url"]).empty  # the decision resolved the flag
    assert "raters: remy 3 · rhea 1 · rita 5" in _caption(page) and widest != flagged
    page.get_by_text(re.compile(r"^teacher: expected \d\.\d\d, most likely \d$")).wait_for()  # stored predictions
    page.get_by_text(re.compile(r"^rita 5 · adjudicate-me · ")).wait_for()
    shot(page, "adjudicate-widest")

    _press(page, "n")  # pass it, and the next one (range 2): the queue is done for this session
    page.keyboard.press("n")
    page.get_by_text("You went through the whole queue.").wait_for()
    settle(page)
    keys_idle(page)  # the keypad takes the server's answer a moment after the page shows it
    page.keyboard.press("u")  # undo: the decision withdrawn, the flagged pair back in view
    assert task_id(page) == flagged
    page.get_by_text("Decision 2 withdrawn").wait_for()
    assert [d[1] for d in _decisions(served["url"])] == [2, None]
    page.keyboard.press("4")
    page.get_by_text("Decided 4 · Relevant").wait_for()
    settle(page)
    decisions = _decisions(served["url"])
    assert [d[1] for d in decisions] == [2, None, 4] and decisions[-1][2] == "rex"
    labels = training_labels(served["url"])
    assert labels[labels["source"] == "adjudicated"]["level"].tolist() == [4]
    shot(page, "adjudicate-done")


def test_a_rater_is_refused_the_adjudication_queue(served, page):
    page.goto(served["base"] + "/adjudicate")  # a deep link: sign in first, then the role decides
    page.get_by_label("User name").fill("rita")
    page.get_by_label("Password", exact=True).fill(USERS["rita"][1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    page.get_by_text(re.compile(r"Adjudicate is open to researcher, admin; you are signed in as rater")).wait_for()
    assert page.get_by_test_id("stSidebarNav").get_by_role("link", name="Adjudicate").count() == 0
