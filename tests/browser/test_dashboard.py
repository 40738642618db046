"""The dashboard a PM can trust, in a real browser (issue 14, item 4): the viewer `vic` opens it on a store with
four judged queries, stored teacher predictions and a teacher whose metadata lists two dev queries, and sees
"too few queries (n)" instead of zero-width CIs, the held-out caption, the reference model named, no "None"
anywhere, and "what changed" between bm25 and the teacher."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest

from app_server import serve_app
from browser_kit import app_store, settle, shot, sign_in

USERS = {"vic": app_store.USERS["vic"]}


@pytest.fixture(scope="module")
def dash_store(tmp_path_factory, _catalog_template):
    folder = tmp_path_factory.mktemp("dashboard")
    shutil.copy(_catalog_template, folder / "store.db")
    url = f"sqlite:///{folder / 'store.db'}"
    app_store.prepare(url, folder, campaigns=False, users=USERS)
    files = app_store.write_predictions(url, folder / "artifacts", models=("teacher",))
    qids = sorted(pd.read_parquet(files["teacher"])["query_id"].unique())
    (folder / "artifacts" / "teacher" / "teacher.json").write_text(json.dumps({"dev_query_ids": qids[:2]}))
    with serve_app(url, folder) as base:
        yield {"base": base, "url": url}


def test_viewer_sees_a_dashboard_that_does_not_overstate(dash_store, page):
    sign_in(page, dash_store["base"], "vic", USERS["vic"][1])
    page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    page.get_by_role("heading", name="What changed").wait_for()
    settle(page)
    page.get_by_text("Covers 2 queries (0 held out, 2 dev, 0 training; 0 rater-labelled)").first.wait_for()
    page.get_by_text(re.compile(r"lists its 2 dev queries but not its training queries")).first.wait_for()
    page.get_by_text(re.compile(r"Reference model: teacher")).first.wait_for()
    shot(page, "dashboard-trust")
    body = page.locator("body").inner_text()
    assert "None" not in body
    # the grid draws cells on a canvas: read them from the CSV each table offers
    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has=page.get_by_text("Download CSV")).nth(1).click()
    ndcg = pd.read_csv(dl.value.path())
    assert "p (Holm) vs teacher" in ndcg.columns
    assert ndcg["nDCG@20 [95% CI]"].str.fullmatch(r"too few queries \([12]\)").all()  # 2 queries, 1-2 a language
    assert "None" not in ndcg.to_csv()
    with page.expect_download() as dl:
        page.get_by_test_id("stDownloadButton").filter(has=page.get_by_text("Download CSV")).nth(2).click()
    changes = pd.read_csv(dl.value.path())
    assert list(changes.columns)[:2] == ["language", "queries"] and "teacher − bm25 [95% CI]" in changes.columns
    assert changes["teacher − bm25 [95% CI]"].str.fullmatch(r"too few queries \([12]\)").all()
