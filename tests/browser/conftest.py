"""Fixtures of the browser tests: a real `streamlit run app.py` over a temp store and Debian's Chromium
driven by Playwright (helpers in browser_kit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app_server import store_app
from browser_kit import CHROMIUM, SHOTS, USERS, WAIT_MS, app_store


def pytest_collection_modifyitems(items):
    """Every test here is a browser test, skipped (with the reason) where Debian's Chromium is missing."""
    skip = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                              reason=f"{CHROMIUM} missing (Debian package 'chromium'; `make test` installs it as root)")
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.browser)
            item.add_marker(skip)


@pytest.fixture(scope="module")
def server(tmp_path_factory, _catalog_template):
    """`streamlit run app.py` on a free port over a temp SQLite store: demo catalog, 4 judged queries,
    an admin and a viewer (no campaign and no rater: the admin makes them in the browser)."""
    with store_app(tmp_path_factory, _catalog_template, "browser",
                   lambda url, folder: app_store.prepare(url, folder, campaigns=False, users=USERS)) as served:
        yield served


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                              "--disable-background-networking",
                                                              "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    yield pg
    pg.screenshot(path=str(SHOTS / f"last-{request.node.name}.png"), full_page=True)  # the state at the end
    context.close()
