"""My labels in a real browser (issue 16, items 2 and 6), walked as the rater who uses it.

A rater opens My labels, filters by campaign and searches by query, picks a label, sees the pair again and changes
its level: the store gets a new label superseding the old one (append-only), the row reads "was 4". A label of a
closed campaign cannot be changed. The rater sees their own figures (labels per hour, median seconds per item,
too-fast flag, gold accuracy and agreement by week).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from app_server import store_app
from browser_kit import app_store, go, grid_box, pick, settle, shot, sign_in

USERS = {k: app_store.USERS[k] for k in ("ada", "rita", "rex")}
LIVE, CLOSED = "my-round", "old-round"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def served(tmp_path_factory, _catalog_template):
    """rita graded 4 items of LIVE (level 4) over two weeks and 1 of CLOSED (closed since); rex graded LIVE too."""
    from core.campaigns import CampaignSpec, close_campaign, create_campaign, next_task, submit_grade

    def fill(url, folder):
        app_store.prepare(url, folder, campaigns=False, users=USERS)
        create_campaign(CampaignSpec(name=CLOSED, n_tasks=2, raters=("rita",), candidates="store"), url=url)
        create_campaign(CampaignSpec(name=LIVE, n_tasks=6, raters=("rita", "rex"), candidates="store", overlap_k=2),
                        url=url)
        for i, (rater, campaign, seconds) in enumerate([("rita", CLOSED, 6.0)] + [("rita", LIVE, s) for s in
                                                        (1.0, 1.5, 0.8, 5.0)] + [("rex", LIVE, 7.0)] * 4):
            now = T0 + timedelta(days=3 * i, minutes=i)
            task = next_task(campaign, rater, url=url, now=now)
            submit_grade(task.assignment_id, rater, 4 if rater == "rita" else 3, seconds=seconds, url=url, now=now)
        close_campaign(CLOSED, url=url)

    with store_app(tmp_path_factory, _catalog_template, "my_labels", fill) as served:
        yield served


def _rita_labels(url: str) -> list:
    from core.store.session import session_scope
    from db.models import Label
    with session_scope(url) as s:
        return s.execute(select(Label.id, Label.level, Label.supersedes_id).where(Label.rater == "rita")
                         .order_by(Label.id)).all()


def _pick_first_row(page) -> None:
    """Tick the table's first row (Glide draws on a canvas: by position); a rerun may still swap the table."""
    box = grid_box(page)
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    settle(page)


def _open(page, served) -> None:
    sign_in(page, served["base"], "rita", USERS["rita"][1])
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    settle(page)
    go(page, "My labels")


def test_a_rater_finds_a_label_and_changes_it_append_only(served, page):
    _open(page, served)
    page.get_by_text("5 of your 5 labels in force, newest first").wait_for()
    pick(page, "Campaign", LIVE)
    page.get_by_text("4 of your 5 labels in force").wait_for()
    before = _rita_labels(served["url"])
    from core.campaigns.my_labels import my_labels, select_my_labels
    mine = my_labels("rita", url=served["url"])
    live = mine[mine["campaign"] == LIVE]
    # a label of LIVE whose query the search finds alone
    target = next(r for _, r in live.iloc[::-1].iterrows() if len(select_my_labels(mine, LIVE, r["query"])) == 1)
    found = select_my_labels(mine, LIVE, target["query"])
    page.get_by_label("Search queries").fill(target["query"])
    page.keyboard.press("Enter")
    page.get_by_text(f"{len(found)} of your 5 labels in force").wait_for()
    settle(page)
    _pick_first_row(page)
    page.get_by_role("button", name="2 · Irrelevant").wait_for()
    assert page.get_by_role("button", name="4 · Relevant").is_disabled()  # the level in force
    shot(page, "my-labels-picked")
    page.get_by_role("button", name="2 · Irrelevant").click()
    page.get_by_text("Changed to 2 · Irrelevant").wait_for()
    settle(page)
    after = _rita_labels(served["url"])
    assert after[:len(before)] == before and len(after) == len(before) + 1  # nothing rewritten: one row added
    new = after[-1]
    assert new[1] == 2 and new[2] in {b[0] for b in before}
    changed = my_labels("rita", url=served["url"]).set_index("label_id").loc[new[0]]
    assert changed["query"] == target["query"] and changed["previous_level"] == 4
    page.get_by_text("In force: 2 · Irrelevant (you changed it from 4)").wait_for()
    assert page.get_by_role("button", name="2 · Irrelevant").is_disabled()
    shot(page, "my-labels-changed")


def test_a_label_of_a_closed_campaign_cannot_be_changed(served, page):
    _open(page, served)
    pick(page, "Campaign", CLOSED)
    page.get_by_text("1 of your 5 labels in force").wait_for()
    _pick_first_row(page)
    page.get_by_text(f"Campaign {CLOSED} is closed: labels change only while it is active.").wait_for()
    for level in ("5 · Highly relevant", "3 · Marginally relevant", "1 · Highly irrelevant"):
        assert page.get_by_role("button", name=level).is_disabled()
    shot(page, "my-labels-closed")


def test_a_rater_sees_their_own_figures_by_week(served, page):
    _open(page, served)
    page.get_by_role("heading", name="Your figures").wait_for()
    # grades of 6, 1, 1.5, 0.8 and 5 s: the median 1.5 s is under the default 2 s
    page.get_by_text("Your median time per item is 1.5 s, under 2 s").wait_for()
    labels = page.get_by_test_id("stMetric").filter(has_text="Labels per hour")
    assert labels.get_by_test_id("stMetricValue").inner_text() == f"{5 * 3600 / 14.3:.0f}"
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("Agreement with the other raters' consensus, by week").count() == 1
    assert page.get_by_text("rex").count() == 0  # only her own figures
    shot(page, "my-labels-figures")


def test_staff_see_every_raters_quality_and_who_is_too_fast(served, page):
    sign_in(page, served["base"], "rex", USERS["rex"][1])
    page.get_by_role("heading", name="Where to go").wait_for()
    go(page, "Rater quality")
    page.get_by_text(re.compile(r"^Too fast \(median under 2 s per item.*: rita\.$")).wait_for()
    page.get_by_role("heading", name="By week", exact=True).wait_for()
    page.locator(".js-plotly-plot").first.wait_for()
    assert page.get_by_text("Median seconds per item, by week").count() == 1
    shot(page, "rater-quality-all")
    pick(page, "Campaign", CLOSED)  # rita's one grade there took 6 s
    page.get_by_text(re.compile(r"^Too fast \(median")).wait_for(state="detached")
    settle(page)
    shot(page, "rater-quality-closed")
