"""Rating in a real browser (Playwright + Debian's Chromium against `streamlit run app.py`).

Fast double key presses never lose or misattribute a grade (each label in the store is for a task the
rater saw; on Rate the next item shows at once and one more key is queued, any further key refused visibly;
the server's answer has the last word over the item drawn in the browser); hotkeys work after
clicking the campaign box and the training toggle; the guidelines stay open across grades; Rate opens a
campaign with work left; Compare at 1366×768 shows the whole "B is better" label and ≥ 8 items a side, and
a new comparison starts at the top.
"""

from __future__ import annotations

import re

import shutil

import pytest
from sqlalchemy import select

from app_server import serve_app
from browser_kit import WAIT_MS, app_store, go, press_and_wait, settle, shot, sign_in, task_id

USERS = app_store.USERS  # ada (admin), rita (rater), rex (researcher), vic (viewer)
NEWEST_DONE = "grade-newest-done"


@pytest.fixture(scope="module")
def server(tmp_path_factory, _catalog_template):
    """The app over a store with rita in a grade campaign (15 tasks, the older one), a newer grade campaign
    she has finished, and a side-by-side campaign with ten items a side."""
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade

    folder = tmp_path_factory.mktemp("rating")
    db = folder / "store.db"
    shutil.copy(_catalog_template, db)
    url = f"sqlite:///{db}"
    app_store.prepare(url, folder, campaigns=False, users=USERS)
    create_campaign(CampaignSpec(name=app_store.GRADE, n_tasks=40, raters=("rita", "rex"), candidates="store"),
                    url=url)
    create_campaign(CampaignSpec(name="sbs-ten", kind="side_by_side", n_tasks=3, raters=("rita",),
                                 models=("bm25", "random"), sbs_k=10), url=url)
    create_campaign(CampaignSpec(name=NEWEST_DONE, n_tasks=2, raters=("rita",), candidates="store"), url=url)
    while (task := next_task(NEWEST_DONE, "rita", url=url)) is not None:
        submit_grade(task.assignment_id, "rita", 3, url=url)
    with serve_app(url, folder) as base:
        yield {"base": base, "url": url, "folder": folder}


def _open(page, server, name: str, heading: str, viewport=None):
    if viewport:
        page.set_viewport_size(viewport)
    sign_in(page, server["base"], name, USERS[name][1])
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    settle(page)
    if heading != "Rate":
        go(page, heading)
    task_id(page)


def _labels(url: str, rater: str) -> list:
    from core.store.session import session_scope
    from db.models import Label
    with session_scope(url) as s:
        return s.execute(select(Label.task_id, Label.level).where(Label.rater == rater).order_by(Label.id)).all()


def _seen_tasks(page) -> list[int]:
    return page.evaluate("() => [...new Set((window.__rsKeys?.timings || []).flatMap(t => [t.from, t.to]))]")


def test_rate_opens_the_campaign_with_work_left_and_keys_work_after_other_widgets(server, page):
    _open(page, server, "rita", "Rate")
    box = page.get_by_label("Campaign")
    assert box.input_value() == app_store.GRADE  # not the newest campaign: rita finished it
    seen = [task_id(page)]
    # click the campaign box, choose the same campaign again, then press a key: the grade is saved
    box.click()
    page.get_by_role("option", name=app_store.GRADE, exact=True).click()
    settle(page)
    seen.append(press_and_wait(page, "4"))
    # the training toggle, then a key
    page.get_by_text("Training mode: reveal stored model predictions after saving").click()
    settle(page)
    seen.append(press_and_wait(page, "5"))
    page.get_by_text("Training mode: reveal stored model predictions after saving").click()
    settle(page)
    seen.append(press_and_wait(page, "2"))
    assert len(set(seen)) == 4
    rows = _labels(server["url"], "rita")
    assert [(t, lvl) for t, lvl in rows if t in seen] == [(seen[0], 4), (seen[1], 5), (seen[2], 2)]
    shot(page, "rating-keys-after-widgets")


def test_guidelines_stay_open_across_grades(server, page):
    _open(page, server, "rita", "Rate")
    page.get_by_text("Guidelines: levels and examples").click()
    examples = page.get_by_text("Judge the product as a shopper who typed the query would.")
    examples.wait_for()
    for key in ("3", "4"):
        press_and_wait(page, key)
        settle(page)
        assert examples.is_visible()
    shot(page, "rating-guidelines-open")


def test_fast_double_presses_never_lose_or_misattribute_a_grade(server, page):
    _open(page, server, "rita", "Rate")
    before = {t for t, _ in _labels(server["url"], "rita")}
    first = task_id(page)
    presses = 0
    for pair in (("1", "2"), ("3", "4"), ("5", "1"), ("2", "3"), ("4", "5")):
        page.keyboard.press(pair[0])
        page.keyboard.press(pair[1])  # before the next item can be on screen
        presses += 2
        settle(page)
        page.wait_for_function("() => !window.__rsKeys.pending")
        if page.evaluate("() => window.__rsKeys.refused") * 2 >= presses:  # this pair's second key was refused:
            page.get_by_text(re.compile(r"not saved")).first.wait_for()  # the message stays, not overwritten
    refused = page.evaluate("() => window.__rsKeys.refused")
    timings = page.evaluate("() => window.__rsKeys.timings")
    rows = [(t, lvl) for t, lvl in _labels(server["url"], "rita") if t not in before]
    seen = {first} | {t["from"] for t in timings} | {t["to"] for t in timings}
    assert rows, "no grade was saved"
    assert {t for t, _ in rows} <= seen  # every label is for a task that was on screen when its key was pressed
    assert len(rows) == len({t for t, _ in rows})  # one grade per task
    # each press either saved a grade or was refused in view of the rater: none vanished
    assert len(rows) + refused == presses
    assert [lvl for _, lvl in rows] == [int(t["key"]) for t in timings if t["key"].isdigit()][-len(rows):]
    shot(page, "rating-double-presses")


def test_compare_fits_ten_items_a_side_and_the_whole_labels_at_1366x768(server, page):
    _open(page, server, "rita", "Compare", viewport={"width": 1366, "height": 768})
    label = page.get_by_role("button", name="B is better").first
    box = label.locator("p").first
    assert box.evaluate("el => el.scrollWidth <= el.clientWidth + 1"), "the label is cut"
    assert "B is better" in label.inner_text()
    rows_a = page.locator("[data-testid='stColumn']").filter(has=page.get_by_role("heading", name="A", exact=True))
    # both rankings render after the headings: wait for two columns of rows, then count the rows in view
    in_view = page.wait_for_function("""() => {
        const cols = [...document.querySelectorAll('[data-testid="stColumn"]')].filter(
            c => c.querySelector('.rs-row'));
        return cols.length === 2 && cols.map(c => [...c.querySelectorAll('.rs-row')].filter(
            r => r.getBoundingClientRect().bottom <= window.innerHeight).length);
    }""", timeout=WAIT_MS).json_value()
    shot(page, "rating-compare-1366")
    assert rows_a.count() >= 1 and len(in_view) == 2 and min(in_view) >= 8, in_view
    # scrolled down, a new comparison starts at the top
    page.mouse.move(800, 500)
    page.mouse.wheel(0, 600)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop > 0 "
                           "|| document.scrollingElement.scrollTop > 0")
    press_and_wait(page, "t")
    settle(page)
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop === 0 "
                           "&& document.scrollingElement.scrollTop === 0", timeout=WAIT_MS)


def test_a_grade_shows_the_next_item_at_once_and_the_server_has_the_last_word(server, page):
    """Rate draws the next item (leased ahead) in the browser as soon as a grade key is pressed, before the
    server has saved the grade; the server's answer confirms it. When the server takes no answer any more
    (here the campaign was closed meanwhile), the item drawn goes, the page says why, and nothing was saved
    for the key."""
    from core.campaigns import CampaignSpec, create_campaign
    from core.campaigns.lifecycle import close_campaign

    create_campaign(CampaignSpec(name="grade-closing", n_tasks=6, raters=("rita",), candidates="store"),
                    url=server["url"])
    _open(page, server, "rita", "Rate")
    assert page.get_by_label("Campaign").input_value() == "grade-closing"  # the newest, with work left
    first = task_id(page)
    ahead = page.evaluate("() => window.__rsKeys.data.next.task")
    assert ahead != first
    page.keyboard.press("4")
    page.wait_for_function("() => !window.__rsKeys.pending")
    timing = page.evaluate("() => window.__rsKeys.timings.at(-1)")
    assert (timing["from"], timing["to"], timing["key"]) == (first, ahead, "4")
    assert timing["ms"] < timing["ack"]  # on screen before the server had confirmed the grade
    assert task_id(page) == ahead
    assert (first, 4) in _labels(server["url"], "rita")

    close_campaign("grade-closing", url=server["url"])
    guess = page.evaluate("() => window.__rsKeys.data.next.task")
    saved = _labels(server["url"], "rita")
    page.keyboard.press("5")
    page.get_by_text(re.compile(r"is closed: labelling is over")).wait_for()
    page.wait_for_function("() => !window.__rsKeys.pending")
    settle(page)
    assert page.evaluate("() => window.__rsKeys.data.task") is None
    assert not page.get_by_text(re.compile(rf"^task ({guess}|{ahead}) · keys")).count()  # the guess is gone
    assert guess not in [t["to"] for t in page.evaluate("() => window.__rsKeys.timings")]
    assert _labels(server["url"], "rita") == saved  # the closed campaign took no grade, and the page says so
    page.get_by_text("That answer was not saved — the message on the page says why.").wait_for()
    shot(page, "rating-closed-under-the-next-item")
