"""What changed between two label dates, in a real browser (issue 14, item 4): the viewer `vic` opens the dashboard
on a store whose judgments were imported 40 days ago and whose rater `rita` graded a campaign 20 days ago, picks
"two label dates", types a date before the raters' work and today, and reads the teacher's per-language nDCG at both
dates with the delta's CI and p, and what changed in the labels, as the core computes them."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import update

from app_server import serve_app
from browser_kit import app_store, settle, shot, sign_in

USERS = {"vic": app_store.USERS["vic"], "rita": app_store.USERS["rita"]}
NOW = datetime.now(timezone.utc)
IMPORTED, RATED, BEFORE = NOW - timedelta(days=40), NOW - timedelta(days=20), (NOW - timedelta(days=30)).date()
TODAY = NOW.date()


def _fill(url, folder):
    """The 4 judged demo queries (en, en, es, de) imported at IMPORTED; rita grades 8 of their pairs at RATED;
    stored teacher predictions for every labelled pair."""
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade
    from core.store.session import session_scope
    from db.models import Label

    app_store.prepare(url, folder, campaigns=False, users=USERS)
    with session_scope(url) as s:
        s.execute(update(Label).values(created_at=IMPORTED))
    create_campaign(CampaignSpec(name="grade-1", n_tasks=8, raters=("rita",), candidates="store", seed=3), url=url)
    for i in range(8):
        t = next_task("grade-1", "rita", url=url, now=RATED)
        submit_grade(t.assignment_id, "rita", (1, 5, 2)[i % 3], url=url, now=RATED)
    app_store.write_predictions(url, folder / "artifacts", models=("teacher",))


@pytest.fixture(scope="module")
def dates_store(tmp_path_factory, _catalog_template):
    folder = tmp_path_factory.mktemp("dashboard-dates")
    shutil.copy(_catalog_template, folder / "store.db")
    url = f"sqlite:///{folder / 'store.db'}"
    _fill(url, folder)
    with serve_app(url, folder, env={"RELEVANCE_MIN_QUERIES_FOR_CI": "2"}) as base:
        yield {"base": base, "url": url, "folder": folder}


def _expected(url, folder):
    """What the core says for the teacher between BEFORE and TODAY on every listwise label (nDCG@20, esci)."""
    from core.workflows import analytics, figures

    before, after = (analytics.labels_frame(url, as_of=analytics.end_of_day(d))[
        ["query_id", "query", "language", "product_id", "level"]] for d in (BEFORE, TODAY))
    return figures.compare_dates(before, after, "teacher", url=url, k="20", gains="esci", min_n=2,
                                 artifacts_dir=folder / "artifacts")


def _date_input(page, label: str):
    return page.get_by_test_id("stDateInput").filter(has=page.get_by_role("group", name=label, exact=True))


def _date_value(page, label: str) -> str:
    return _date_input(page, label).locator("input[type=date]").input_value()


def _type_date(page, label: str, day) -> None:
    """Type ``day`` into a Streamlit date input (its year, month and day segments), then leave it."""
    page.get_by_role("spinbutton", name=f"year, {label}", exact=True).click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    settle(page)
    assert _date_value(page, label) == str(day)


def test_viewer_compares_a_models_figures_at_two_label_dates(dates_store, page):
    want = _expected(dates_store["url"], dates_store["folder"])
    assert want["changes"]["added"] + want["changes"]["changed"] > 0  # rita's labels changed something
    sign_in(page, dates_store["base"], "vic", USERS["vic"][1])
    page.get_by_role("heading", name="What changed").wait_for()
    settle(page)
    page.get_by_text("two label dates", exact=True).click()
    settle(page)
    assert _date_value(page, "Labels as of (before)") == str(RATED.date())  # default: the first rater label's day
    assert _date_value(page, "Labels as of (after)") == str(TODAY)
    _type_date(page, "Labels as of (before)", BEFORE)
    _type_date(page, "Labels as of (after)", TODAY)
    ch = want["changes"]
    removed = f", {ch['removed']} removed" if ch["removed"] else ""
    page.get_by_text(f"From {BEFORE} to {TODAY}: {ch['added']} labels added, {ch['changed']} changed{removed}, on "
                     f"{ch['n_queries']} queries").wait_for()
    page.get_by_text(re.compile(rf"of teacher against the labels in force at the end of {BEFORE} and of {TODAY} "
                                rf"\(UTC\) on the {want['n_common']} held-out queries labelled at both dates, "
                                rf"{want['common_changed']} of them")).wait_for()
    shot(page, "dashboard-dates")
    assert "None" not in page.locator("body").inner_text()
    # the grid draws cells on a canvas: read the table from the CSV it offers
    with page.expect_download() as dl:
        page.locator(".st-key-dash_date_changes_csv").get_by_role("button").click()
    assert dl.value.suggested_filename == f"changes_teacher_{BEFORE}_to_{TODAY}.csv"
    got = pd.read_csv(dl.value.path(), dtype=str).set_index("language")
    got = got.apply(lambda col: col.str.removeprefix("'"))  # formula-safe CSV: "'-0.01 [...]" opens as text
    delta = f"{TODAY} − {BEFORE} [95% CI]"
    assert list(got.columns) == ["queries", str(BEFORE), str(TODAY), delta, "p (Holm)"]
    table = want["table"].set_index("language")
    assert list(got.index) == list(table.index) == ["all", "de", "en", "es"]
    assert got.loc["all", "queries"] == "4" and got.loc["en", "queries"] == "2"
    for lang in ("all", "en"):
        row = table.loc[lang]
        assert got.loc[lang, str(BEFORE)] == f"{row['before']:.3f}" and got.loc[lang, str(TODAY)] == f"{row['after']:.3f}"
        assert got.loc[lang, delta] == f"{row['delta']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    for lang in ("de", "es"):
        assert got.loc[lang, delta] == "too few queries (1)" and got.loc[lang, str(TODAY)] == "too few queries (1)"
