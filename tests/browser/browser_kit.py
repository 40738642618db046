"""Helpers of the browser tests (their fixtures are in conftest.py): sign in, open a page, wait for
Streamlit's reruns instead of sleeping, pick from its select boxes, read the rating page's task ids."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import app_store  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "browser"
USERS = {"ada": app_store.USERS["ada"], "vic": app_store.USERS["vic"]}
WAIT_MS = 20_000


def shot(page, name: str) -> None:
    settle(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def settle(page) -> None:
    """Wait until Streamlit has finished the current run (its 'running' indicator is gone)."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
    errors = page.locator("[data-testid='stException']")
    assert not errors.count(), errors.first.inner_text()


def sign_in(page, base: str, name: str, password: str) -> None:
    page.goto(base)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


def go(page, title: str) -> None:
    # the link's name ends with the page's title (an icon may come first): "Rate" is not "Rater quality"
    link = re.compile(rf"(^|\s){re.escape(title)}$")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=title, level=1).wait_for()
    settle(page)


def grid_box(page) -> dict:
    """The bounding box of the page's first table (Glide draws rows on a canvas, so rows are clicked by
    position); retried because a rerun may still swap the table."""
    from playwright.sync_api import Error as PlaywrightError

    for attempt in range(4):
        try:
            grid = page.get_by_test_id("stDataFrame").first
            grid.wait_for()
            grid.scroll_into_view_if_needed()
            page.wait_for_timeout(300)  # the grid draws its canvas after the element appears
            return grid.bounding_box()
        except PlaywrightError:
            if attempt == 3:
                raise
            settle(page)


def one_text(page, pattern: str) -> str:
    """The text of the one paragraph matching ``pattern`` (during a rerun Streamlit briefly keeps the
    previous, stale element next to the new one, so wait until there is exactly one)."""
    js = ("(pattern) => { const re = new RegExp(pattern);"
          " const els = [...document.querySelectorAll('p')].filter(p => re.test(p.innerText));"
          " return els.length === 1 ? els[0].innerText : null; }")
    return page.wait_for_function(js, arg=pattern).json_value()


_TASK_IN_VIEW = """() => {
  const K = window.__rsKeys;
  if (K && K.pending) return null;  // a key still waits for the server's answer
  const ps = [...document.querySelectorAll('p')].filter(p => /^task \\d+ · keys/.test(p.innerText));
  if (ps.length !== 1) return null;  // none yet, or a rerun's stale caption next to the new one
  const id = Number(ps[0].innerText.split(' ')[1]);
  const pad = document.querySelector('.st-key-rate_keys, .st-key-compare_keys, .st-key-adjudicate_keys');
  return !pad || (K && K.data && K.data.task === id) ? id : null;
}"""


def task_id(page) -> int:
    """The task in view, once no key waits for the server's answer (a message of that answer, e.g. "Undone", can
    be on screen before the item it brings) and, on a page with the rating keypad (ui/keypad.py), its keys know
    that task (its script loads after the page: a key pressed before is not seen by it). One condition, checked
    as a whole each time: the caption and the keypad are read together."""
    try:
        return int(page.wait_for_function(_TASK_IN_VIEW).json_value())
    except Exception as exc:  # say what the page held instead
        raise AssertionError(f"no single task in view that the keypad knows: {page_state(page)}") from exc


def page_state(page) -> dict:
    """The task captions on the page, the keypad's task, its pending key and status line (for a failure message)."""
    return page.evaluate("""() => {
      const K = window.__rsKeys, d = K && K.data;
      return {captions: [...document.querySelectorAll('p')].map(p => p.innerText).filter(t => /^task \\d+ · keys/.test(t)),
              keys: K && {data: d && {task: d.task, handled: d.handled, keys: d.keys.join('')}, pending: K.pending,
                          seq: K.seq, refused: K.refused,
                          status: [...document.querySelectorAll('.rs-keys-status')].map(e => e.textContent)}};
    }""")


def keys_idle(page) -> None:
    """Wait until the keypad has the server's answer to the last key (a key pressed before is refused as too fast,
    as a person would be told)."""
    page.wait_for_function("() => window.__rsKeys && !window.__rsKeys.pending")


def press_key(page, key: str) -> None:
    """Press a shortcut key once the page's run has ended and the keypad takes the key with no answer pending: a run
    that changes the keys (closing the flag form gives back 1–5) can draw the page a moment before the keypad has
    its new keys, and a key it does not take is ignored, as for a person."""
    settle(page)
    page.wait_for_function("(key) => { const K = window.__rsKeys, d = K && K.data;"
                           " return d && !K.pending && d.keys.includes(key); }", arg=key.lower())
    page.keyboard.press(key)


def press_and_wait(page, key: str) -> int:
    """Press a shortcut key (``press_key``) and wait until the next task is on screen; returns its id."""
    before = task_id(page)
    press_key(page, key)
    try:
        page.wait_for_function("(before) => [...document.querySelectorAll('p')].some(p => /^task \\d+ · keys/"
                               ".test(p.innerText) && !p.innerText.startsWith(`task ${before} `))", arg=before)
    except Exception as exc:  # say what the page held instead
        raise AssertionError(f"key {key!r} did not bring a new task: {page_state(page)}") from exc
    return task_id(page)


def pick(page, label: str, *options: str, within=None) -> None:
    """Choose options in a selectbox / multiselect by its label (inside the locator ``within``, e.g. one form)."""
    box = (within or page).get_by_label(label, exact=True)
    for option in options:
        # A Streamlit rerun (e.g. after typing in another field) can re-render the list while it opens,
        # detaching the option: open it again and retry, a few times at most.
        for attempt in range(4):
            box.click()
            try:
                page.get_by_role("option", name=option, exact=True).click(timeout=5_000)
                break
            except PlaywrightTimeout:
                page.keyboard.press("Escape")
                if attempt == 3:
                    raise
    page.keyboard.press("Escape")
