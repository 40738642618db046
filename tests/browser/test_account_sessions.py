"""Accounts in a real browser (Playwright + Debian's Chromium against `streamlit run app.py`).

An admin deactivates, reactivates and demotes a rater whose session is open in another browser: that
session's next click signs it out with the reason. A page opened by URL while signed out shows the sign-in
form (no "Page not found") and opens after signing in, or the role's home with a note. A lockout of `ada`
from one browser does not stop ada signing in from another.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from app_server import store_app
from browser_kit import USERS as _ADMIN_AND_VIEWER, WAIT_MS, app_store, page_state, pick, press_key, settle, shot, \
    sign_in, task_id

USERS = app_store.USERS  # ada (admin), rita (rater), rex (researcher), vic (viewer)
assert set(_ADMIN_AND_VIEWER) <= set(USERS)


@pytest.fixture(scope="module")
def server(tmp_path_factory, _catalog_template):
    """The app over a store with every role and the grade campaign (rita rates in it)."""
    with store_app(tmp_path_factory, _catalog_template, "accounts",
                   lambda url, folder: app_store.prepare(url, folder, campaigns=True, users=USERS)) as served:
        yield served


def _other(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(WAIT_MS)
    return context, pg


def _status(page, name: str, button: str, role: str | None = None) -> None:
    """On the Users page: pick ``name`` (and ``role``) in the role/status form and press ``button``."""
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Deactivate"))
    settle(page)
    pick(page, "User", name, within=form)
    if role:
        pick(page, "New role", role, within=form)
    form.get_by_role("button", name=button).click()
    page.get_by_test_id("stAlert").filter(has_text=name).first.wait_for()
    settle(page)


def _settle_run(page) -> None:
    """Wait for the run a click started to end (its 'running' indicator may show late on a busy machine, or not
    at all for a short run: a click that lands mid-run is lost, and the loop below tries again)."""
    try:
        page.get_by_test_id("stStatusWidget").wait_for(timeout=1_000)
    except PlaywrightTimeout:
        pass
    settle(page)


def _wait_text(page, text: str) -> None:
    try:
        page.get_by_text(text).wait_for()
    except PlaywrightTimeout as exc:  # say what the page held instead
        raise AssertionError(f"{text!r} did not show: {page_state(page)}") from exc


def _no_page_not_found(page) -> None:
    assert page.get_by_text("Page not found").count() == 0


def test_sessions_end_at_the_next_click_when_an_admin_changes_the_account(server, page, browser):
    base = server["base"]
    context, rita = _other(browser)
    try:
        sign_in(rita, base, "rita", USERS["rita"][1])
        rita.get_by_role("heading", name="Rate", level=1).wait_for()
        task_id(rita)
        page.goto(base + "/users")  # a deep link, signed out: the sign-in form, then Users
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password", exact=True).fill(USERS["ada"][1])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Users", level=1).wait_for()
        settle(page)

        _status(page, "rita", "Deactivate")
        press_key(rita, "4")  # rita's next click: a grade
        _wait_text(rita, "An admin deactivated your account")
        rita.get_by_label("User name").wait_for()
        shot(rita, "accounts-01-deactivated")

        _status(page, "rita", "Reactivate")
        sign_in(rita, base, "rita", USERS["rita"][1])
        rita.get_by_role("heading", name="Rate", level=1).wait_for()
        task_id(rita)
        _status(page, "rita", "Change role", role="viewer")
        press_key(rita, "5")
        _wait_text(rita, "Your role changed from rater to viewer")
        shot(rita, "accounts-02-demoted")
        sign_in(rita, base, "rita", USERS["rita"][1])  # a viewer now: the dashboard is her home
        rita.get_by_role("heading", name="Dashboard", level=1).wait_for(timeout=90_000)
    finally:
        context.close()


def test_a_deep_link_opens_after_sign_in_or_lands_home_with_a_note(server, page):
    base = server["base"]
    page.goto(base + "/failures")
    page.get_by_label("User name").wait_for()
    settle(page)
    _no_page_not_found(page)
    page.get_by_label("User name").fill("rex")
    page.get_by_label("Password", exact=True).fill(USERS["rex"][1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Failures", level=1).wait_for(timeout=90_000)
    assert page.url.endswith("/failures")
    _no_page_not_found(page)
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").wait_for()

    page.goto(base + "/users")  # a researcher may not open Users: home, told why
    page.get_by_label("User name").fill("Rex")  # any case finds the user
    page.get_by_label("Password", exact=True).fill(USERS["rex"][1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Users is open to admin; you are signed in as researcher").wait_for()
    page.get_by_role("heading", name="Where to go").wait_for()
    _no_page_not_found(page)
    shot(page, "accounts-03-deep-link-refused")


def test_a_lockout_from_one_browser_does_not_stop_ada_in_another(server, page, browser):
    base = server["base"]
    page.goto(base)
    locked = page.get_by_text("Too many failed sign-ins for this name from this browser")
    for attempt in range(15):  # five failures lock the name for this browser (a click landing mid-rerun is lost, so
        # the count here is loose; tests/test_accounts.py checks it exactly)
        page.get_by_label("User name").fill("ada")
        page.get_by_label("Password", exact=True).fill(f"wrong-guess-{attempt}")
        page.get_by_role("button", name="Sign in").click()
        _settle_run(page)
        if locked.count():
            break
    assert locked.count()
    page.reload()  # a new session in the same browser: still locked (the browser, not the session, is the client)
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Password", exact=True).fill(USERS["ada"][1])  # even the right password, from here
    page.get_by_role("button", name="Sign in").click()
    locked.wait_for()
    shot(page, "accounts-04-locked")
    context, other = _other(browser)
    try:
        sign_in(other, base, "ada", USERS["ada"][1])
        other.get_by_role("heading", name="Where to go").wait_for()
    finally:
        context.close()
