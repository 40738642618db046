"""Campaign lifecycle and label exports in a real browser (issue 16, items 4 and 5).

A rater reads the campaign's instructions on Rate (Markdown rendered, its HTML and images not) and, once a
researcher pauses the campaign on Data and campaigns, gets "paused" instead of a new item, then carries on after
the resume. A researcher writes instructions, is refused the deletion of a campaign with labels, deletes an unused
one and archives another (hidden until "Show archived campaigns"). An admin downloads the raw labels of one
campaign (CSV, a formula-like query neutralised), the labels in force of the whole store (Parquet) and qrels.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from sqlalchemy import select, update

from app_server import store_app
from browser_kit import WAIT_MS, app_store, go, pick, settle, shot, sign_in, task_id

USERS = {k: app_store.USERS[k] for k in ("ada", "rita", "rex")}
LIVE, UNUSED, OLD, EXPORTED = "lifecycle-grade", "unused", "old-round", "exported"
FORMULA = '=HYPERLINK("http://evil.example")'
INSTRUCTIONS = ("## Read first\n\nJudge **colour** as part of the query. <b>no html</b><script>alert(1)</script> "
                "![pixel](http://127.0.0.1:9/pixel.png) See the [style guide](https://example.org/guide).")


@pytest.fixture(scope="module")
def served(tmp_path_factory, _catalog_template):
    """rita rates in LIVE (with instructions) and EXPORTED (two grades, one undone; a query that looks like a
    formula); UNUSED and OLD have no labels."""
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade, undo_last
    from core.store.session import session_scope
    from db.models import Query, Task

    def fill(url, folder):
        app_store.prepare(url, folder, campaigns=False, users=USERS)
        create_campaign(CampaignSpec(name=EXPORTED, n_tasks=3, raters=("rita",), candidates="store"), url=url)
        with session_scope(url) as s:
            first = s.scalar(select(Task.query_pk).join(Query, Query.id == Task.query_pk).order_by(Task.position))
            s.execute(update(Query).where(Query.id == first).values(text=FORMULA))
        for level in (4, 2):
            task = next_task(EXPORTED, "rita", url=url)
            submit_grade(task.assignment_id, "rita", level, url=url)
        undo_last("rita", EXPORTED, url=url)
        for name in (UNUSED, OLD):
            create_campaign(CampaignSpec(name=name, n_tasks=2, raters=("rita",), candidates="store"), url=url)
        create_campaign(CampaignSpec(name=LIVE, n_tasks=12, raters=("rita",), candidates="store",
                                     instructions=INSTRUCTIONS), url=url)

    with store_app(tmp_path_factory, _catalog_template, "lifecycle", fill) as served:
        yield served


def _staff(browser, served, name: str):
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(WAIT_MS * 2)
    sign_in(page, served["base"], name, USERS[name][1])
    page.get_by_role("heading", name="Where to go").wait_for()
    go(page, "Data and campaigns")
    return page


def _manage(page, campaign: str) -> None:
    """Open the Campaigns tab's "Manage a campaign" panel on ``campaign``."""
    page.get_by_role("tab", name="Campaigns").click()
    manage = page.get_by_text("Manage a campaign: instructions, pause, resume, close, archive, delete")
    if not page.get_by_role("button", name="Pause").is_visible():
        manage.click()
    settle(page)
    page.wait_for_function("() => document.querySelectorAll('input[aria-label=\"Campaign to manage\"]').length === 1")
    pick(page, "Campaign to manage", campaign)
    page.get_by_text(re.compile(rf"^{re.escape(campaign)} \(grade\) · ")).wait_for()
    settle(page)


def _button(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    settle(page)


def _listed(page) -> set[str]:
    """The campaigns the manage panel offers (the table's rows: both list the same campaigns)."""
    page.get_by_label("Campaign to manage", exact=True).click()
    names = {o.inner_text().strip() for o in page.get_by_role("option").all()}
    page.keyboard.press("Escape")
    return names


def _listed_soon(page, campaign: str) -> bool:
    """Whether ``campaign`` is offered within ``WAIT_MS``: the click's rerun may start after ``settle`` looked."""
    import time

    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        settle(page)
        if campaign in _listed(page) or time.monotonic() > deadline:
            return campaign in _listed(page)
        page.wait_for_timeout(250)


def _labels(url: str, campaign: str) -> list:
    from core.store.session import session_scope
    from db.models import Campaign, Label, Task

    with session_scope(url) as s:
        return s.execute(select(Label.task_id, Label.level).join(Task, Task.id == Label.task_id)
                         .join(Campaign, Campaign.id == Task.campaign_id).where(Campaign.name == campaign)
                         .order_by(Label.id)).all()


def test_a_rater_reads_the_instructions_and_is_told_when_a_researcher_pauses(served, page, browser):
    sign_in(page, served["base"], "rita", USERS["rita"][1])
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    settle(page)
    pick(page, "Campaign", LIVE)
    settle(page)
    first = task_id(page)
    page.get_by_text("Campaign instructions").click()
    page.get_by_role("heading", name="Read first").wait_for()
    page.locator("strong", has_text="colour").wait_for()
    assert page.locator("a[href='https://example.org/guide']", has_text="style guide").count() == 1
    assert page.get_by_text("no html").count() == 1 and page.get_by_text("<b>").count() == 0
    assert page.locator("img[src*='pixel.png']").count() == 0
    assert page.locator("[data-testid='stExpander'] script").count() == 0
    shot(page, "lifecycle-instructions")

    staff = _staff(browser, served, "rex")
    _manage(staff, LIVE)
    _button(staff, "Pause")
    staff.get_by_text(f"Campaign {LIVE} is now paused.").wait_for()
    assert staff.get_by_role("button", name="Resume", exact=True).is_enabled()
    shot(staff, "lifecycle-paused-staff")

    # the item on screen (and the one leased ahead) may still be answered; then the rater is told it is paused
    paused = page.get_by_text(re.compile(rf"{LIVE} is paused: no new items for now"))
    for key in "345":
        before = task_id(page)  # the keypad knows the item in view: the key is for it
        page.keyboard.press(key)
        page.wait_for_function("(before) => /is paused: no new items/.test(document.body.innerText) || "
                               "[...document.querySelectorAll('p')].some(p => /^task \\d+ · keys/.test(p.innerText)"
                               " && !p.innerText.startsWith(`task ${before} `))", arg=before)
        settle(page)
        if paused.is_visible():
            break
    paused.wait_for()
    saved = _labels(served["url"], LIVE)
    assert saved and saved[0][0] == first and len(saved) <= 2
    page.keyboard.press("u")  # undo reopens nothing in a paused campaign
    settle(page)
    assert paused.is_visible() and len(_labels(served["url"], LIVE)) == len(saved)
    shot(page, "lifecycle-paused-rater")

    _button(staff, "Resume")
    staff.get_by_text(f"Campaign {LIVE} is now active.").wait_for()
    staff.context.close()
    go(page, "Compare")
    go(page, "Rate")
    assert task_id(page) not in {t for t, _ in saved}


def test_a_researcher_writes_instructions_deletes_only_unused_campaigns_and_archives(served, browser):
    page = _staff(browser, served, "rex")
    _manage(page, UNUSED)
    page.get_by_label(re.compile(r"^Instructions for the raters")).fill("Prefer the **exact** model number.")
    _button(page, "Save instructions")
    page.get_by_text(f"Instructions of {UNUSED} saved.").wait_for()
    page.get_by_text("Preview: what raters see").click()
    page.locator("strong", has_text="exact").wait_for()

    _manage(page, EXPORTED)
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_text(f"Delete {EXPORTED} and its tasks").click()
    _button(page, "Delete campaign")
    page.get_by_text(re.compile(rf"campaign '{EXPORTED}' holds 3 label row\(s\).*close or archive it instead")).wait_for()
    shot(page, "lifecycle-delete-refused")

    _manage(page, UNUSED)
    page.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_text(f"Delete {UNUSED} and its tasks").click()
    _button(page, "Delete campaign")
    page.get_by_text(f"Deleted campaign {UNUSED} with its tasks.").wait_for()

    _manage(page, OLD)
    _button(page, "Archive")
    page.get_by_text(f"Campaign {OLD} is now archived.").wait_for()
    listed = _listed(page)
    assert OLD not in listed and UNUSED not in listed and EXPORTED in listed
    page.get_by_text("Show archived campaigns (1)").click()
    assert _listed_soon(page, OLD), "the archived campaign is offered once archived ones are shown"
    shot(page, "lifecycle-archived")
    page.context.close()

    from core.campaigns import get_campaign, list_campaigns
    assert get_campaign(OLD, url=served["url"]).status == "archived"
    assert UNUSED not in {c.name for c in list_campaigns(include_archived=True, url=served["url"])}


def _download(page, what: str, of: str, fmt: str | None, file_name: str) -> bytes:
    """Choose an export and download it, once the page names its file (the button of that run is on screen)."""
    page.get_by_role("tab", name="Export labels").click()
    pick(page, "Labels of", of)
    pick(page, "What to export", what)
    if fmt:
        pick(page, "Format", fmt)
    page.get_by_text(f"File: {file_name} (made from the store when you click)").wait_for()
    settle(page)
    with page.expect_download(timeout=WAIT_MS * 3) as info:
        page.get_by_role("button", name=re.compile(r"^Download ")).click()
    download = info.value
    assert download.suggested_filename == file_name
    with open(download.path(), "rb") as f:
        return f.read()


def test_an_admin_downloads_raw_labels_labels_in_force_and_qrels(served, browser):
    page = _staff(browser, served, "ada")
    data = _download(page, "raw labels (every row, with rater and time)", f"campaign {EXPORTED} (grade, active)",
                     "csv", f"raw_{EXPORTED}.csv")
    raw = pd.read_csv(io.BytesIO(data))
    assert list(raw["rater"]) == ["rita"] * 3 and list(raw["in_force"]) == [True, False, False]
    assert list(raw["level"].fillna(0)) == [4, 2, 0]
    assert raw["created_at"].notna().all()
    assert f"'{FORMULA}" in set(raw["query"]) and FORMULA not in set(raw["query"])  # neutralised for spreadsheets

    data = _download(page, "labels in force (one row per pair)", "the whole store", "parquet", "labels_all.parquet")
    labels = pd.read_parquet(io.BytesIO(data))
    assert FORMULA in set(labels["query"])  # Parquet keeps the text as it is
    assert {"import:small", "human"} <= set(labels["source"]) and labels["level"].between(1, 5).all()

    lines = _download(page, "qrels (TREC: query_id 0 product_id relevance)", "the whole store", None,
                      "qrels_all_linear.qrels").decode().splitlines()
    assert len(lines) == len(labels)
    assert all(re.fullmatch(r"\S+ 0 \S+ [0-4]", line) for line in lines)
    shot(page, "lifecycle-exports")
    page.context.close()
