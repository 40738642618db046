"""Flags, query notes and side-by-side reasons in a real browser (issue 16, items 1, 7 and 8).

A researcher resolves a rater's flag and writes what a query means on Data and campaigns; a rater reads that note
above the item on Rate, flags the item with F (a reason and a comment) and grades it; on Compare a rater picks a
reason with a number key before answering, and a viewer finds the reason in the Dashboard's side-by-side results.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from sqlalchemy import select

from app_server import store_app
from browser_kit import WAIT_MS, app_store, go, keys_idle, press_and_wait, settle, sign_in, task_id

USERS = app_store.USERS  # ada (admin), rita (rater), rex (researcher), vic (viewer)
EARLIER, ONE_QUERY, SBS = "flagged-earlier", "one-query", "sbs-reasons"
NOTE = "Women's running shoes in red; any brand, any size."


@pytest.fixture(scope="module")
def served(tmp_path_factory, _catalog_template):
    """rita flagged (broken image) and graded the one task of EARLIER; ONE_QUERY (newest grade campaign) holds
    three pairs of one query; SBS is a side-by-side campaign of bm25 against random."""
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade
    from core.campaigns.flags import flag_task
    from core.campaigns.selection import create_selection_campaign
    from core.store.labels import current_labels
    from core.store.session import session_scope

    def fill(url, folder):
        app_store.prepare(url, folder, campaigns=False, users=USERS)
        with session_scope(url) as s:
            pairs = current_labels(s)[["query_pk", "product_pk"]].drop_duplicates()
        queries = pairs["query_pk"].drop_duplicates().tolist()
        create_selection_campaign(EARLIER, pairs[pairs["query_pk"] == queries[1]].head(1), ["rita"], url=url)
        task = next_task(EARLIER, "rita", url=url)
        flag_task(task.assignment_id, "rita", "broken_image", "no picture shown", url=url)
        submit_grade(task.assignment_id, "rita", 3, url=url)
        create_selection_campaign(ONE_QUERY, pairs[pairs["query_pk"] == queries[0]].head(3), ["rita"], url=url)
        create_campaign(CampaignSpec(name=SBS, kind="side_by_side", n_tasks=3, raters=("rita",),
                                     models=("bm25", "random"), sbs_k=5), url=url)

    with store_app(tmp_path_factory, _catalog_template, "flags-notes", fill) as served:
        yield served


def _query_of(url: str, campaign: str) -> tuple[str, str]:
    """(query_id, text) of the campaign's first task."""
    from core.store.session import session_scope
    from db.models import Campaign, Query, Task
    with session_scope(url) as s:
        return s.execute(select(Query.query_id, Query.text).join(Task, Task.query_pk == Query.id)
                         .join(Campaign, Campaign.id == Task.campaign_id).where(Campaign.name == campaign)
                         .order_by(Task.position).limit(1)).one()


def _signed_in(browser, served, name: str, heading: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
    page.set_default_timeout(WAIT_MS * 2)
    sign_in(page, served["base"], name, USERS[name][1])
    page.get_by_role("heading", name=heading, exact=True).first.wait_for()
    settle(page)
    return page


def test_a_researcher_resolves_a_flag_and_writes_what_a_query_means(browser, served):
    from core.campaigns.flags import list_flags, open_flags
    from core.campaigns.query_notes import query_note

    url = served["url"]
    page = _signed_in(browser, served, "rex", "Where to go")
    go(page, "Data and campaigns")
    page.get_by_role("tab", name="Flags and query notes").click()
    settle(page)
    page.get_by_text("1 open flag(s), oldest first.").wait_for()
    settle(page)
    assert re.fullmatch(rf"#\d+ · {EARLIER} · .+ · Broken image \(rita\)",
                        page.get_by_label("Flag to resolve").input_value())
    page.locator("td[role=gridcell]", has_text="no picture shown").wait_for(state="attached")  # the comment, in the list of open flags
    page.get_by_label("Resolution note (optional)").fill("the image loads now")
    page.get_by_role("button", name="Resolve").click()
    page.get_by_text(re.compile(r"Resolved flag #\d+: its pair votes again")).wait_for()
    settle(page)
    assert open_flags(url).empty
    done = list_flags(url, include_resolved=True)
    assert done[["rater", "reason", "resolved_by", "resolution"]].values.tolist() == [
        ["rita", "broken_image", "rex", "the image loads now"]]

    qid, text = _query_of(url, ONE_QUERY)
    box = page.get_by_label("Query", exact=True)
    box.click()
    box.fill(text[:12])
    page.get_by_role("option", name=f"{text} ({qid})", exact=True).click()
    settle(page)
    page.get_by_label("What this query means").fill(NOTE)
    page.get_by_role("button", name="Save note").click()
    page.get_by_text("Saved: raters see it with the query's next items.").wait_for()
    assert query_note(qid, url=url) == NOTE
    page.context.close()


def test_a_rater_reads_the_query_note_and_flags_an_item_with_f(browser, served):
    from core.campaigns.flags import open_flags
    from core.campaigns.query_notes import set_query_note
    from core.store.session import session_scope
    from db.models import Label

    url = served["url"]
    qid, text = _query_of(url, ONE_QUERY)
    set_query_note(qid, NOTE, url=url)  # as the researcher's test left it (no new row when it ran first)
    page = _signed_in(browser, served, "rita", "Rate")
    assert page.get_by_label("Campaign").input_value() == ONE_QUERY
    page.get_by_text(f"What this query means: {NOTE}").wait_for()
    flagged = task_id(page)
    page.keyboard.press("f")
    page.get_by_text("Flag this item").wait_for()
    settle(page)
    page.get_by_text("Ambiguous query", exact=True).click()
    page.get_by_label("Comment (optional)").fill("which size is meant?")
    page.get_by_role("button", name="Save flag").click()
    page.get_by_text(re.compile(r"Flagged as Ambiguous query")).wait_for()
    settle(page)
    keys_idle(page)
    # the form goes (Streamlit drops a run's stale elements a moment after its status widget is gone)
    page.get_by_text("Flag this item").wait_for(state="detached")
    flags = open_flags(url)
    flags = flags[flags["campaign"] == ONE_QUERY]  # EARLIER's flag is open too when this test runs alone
    assert flags[["campaign", "task_id", "rater", "reason", "comment"]].values.tolist() == [
        [ONE_QUERY, flagged, "rita", "ambiguous_query", "which size is meant?"]]
    assert task_id(page) == flagged  # the item stays: a flag is not an answer
    nxt = press_and_wait(page, "4")
    assert nxt != flagged
    page.get_by_text(f"What this query means: {NOTE}").wait_for()  # the next task of the same query
    with session_scope(url) as s:
        assert s.execute(select(Label.task_id, Label.level).where(Label.rater == "rita", Label.task_id == flagged)
                         ).all() == [(flagged, 4)]
    page.context.close()


def test_a_rater_gives_a_reason_with_a_side_by_side_answer_and_a_viewer_sees_it(browser, served):
    from core.store.session import session_scope
    from db.models import Comparison

    url = served["url"]
    page = _signed_in(browser, served, "rita", "Rate")
    go(page, "Compare")
    first = task_id(page)
    page.keyboard.press("2")
    page.get_by_text("Reason: better language match").wait_for()
    settle(page)
    assert task_id(page) == first
    keys_idle(page)
    press_and_wait(page, "a")
    with session_scope(url) as s:
        rows = s.execute(select(Comparison.task_id, Comparison.answer, Comparison.reason)).all()
    assert rows == [(first, "A", "better language match")]
    page.get_by_text("Reason (optional): keys 1–4, then the answer").wait_for()  # reset for the next comparison
    page.context.close()

    page = _signed_in(browser, served, "vic", "Dashboard")
    page.get_by_text("Reasons given with the answers").wait_for()
    with page.expect_download(timeout=WAIT_MS * 3) as info:
        page.locator(".st-key-dash_reasons_csv button").click()
    got = pd.read_csv(io.BytesIO(open(info.value.path(), "rb").read()))
    assert got[["campaign", "reason", "n"]].values.tolist() == [[SBS, "better language match", 1]]
    assert got["outcome"].str.endswith(" better").all()
    page.context.close()
