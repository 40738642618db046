"""The app in a real browser: Playwright drives Debian's Chromium against `streamlit run app.py`.

One story, in order (each step's screenshot goes to test-artifacts/browser/): an admin signs in, creates a
rater (one-time password) and two campaigns; the rater signs in, sets a password, grades ten items with
the keyboard, undoes one, answers side-by-side comparisons with A/B; a viewer opens the dashboard and sees
the labels per language; the labels are in the database. Plus: wrong passwords are refused, and a page
typed as a URL does not get past sign-in.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from browser_kit import SHOTS, USERS, WAIT_MS, go, one_text, pick, press_and_wait, settle, shot, sign_in, task_id


def test_wrong_password_is_refused_and_urls_do_not_skip_sign_in(server, page):
    sign_in(page, server["base"], "ada", "not-the-password")
    page.get_by_text("Wrong user name or password.").wait_for()
    page.goto(server["base"] + "/users")  # a page typed as a URL: a new session, so sign in first
    page.get_by_label("User name").wait_for()
    assert page.get_by_role("heading", name="Users").count() == 0
    shot(page, "00-refused")


def test_admin_sets_up_a_rater_who_grades_with_the_keyboard(server, page, browser):
    base = server["base"]
    # 1. the admin creates a rater and two campaigns
    sign_in(page, base, "ada", USERS["ada"][1])
    page.get_by_role("heading", name="Where to go").wait_for()  # the overview, not the sign-in page
    settle(page)
    go(page, "Users")
    page.get_by_label("User name", exact=True).fill("rosa")
    page.get_by_role("button", name="Create user").click()
    one_time = page.get_by_test_id("stCode").first.inner_text().strip()
    assert len(one_time) >= 12
    shot(page, "01-admin-created-rater")
    go(page, "Data and campaigns")
    page.get_by_role("tab", name="Campaigns").click()
    for name, kind, tasks in (("browser-grade", "grade", "14"), ("browser-sbs", "side_by_side", "2")):
        page.get_by_label("Name", exact=True).fill(name)
        if kind != "grade":
            pick(page, "Kind", kind)
        page.get_by_label("Tasks (pairs; queries for side_by_side)").fill(tasks)
        if kind == "grade":  # the form keeps its values after a campaign is created
            pick(page, "Raters", "rosa")
        page.get_by_role("button", name="Create campaign").click()
        page.get_by_text(re.compile(f"Created {kind} campaign {name}")).wait_for()
    shot(page, "02-admin-created-campaigns")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("User name").wait_for()

    # 2. the rater signs in with the one-time password and must choose a new one
    sign_in(page, base, "rosa", one_time)
    page.get_by_role("heading", name="Set a new password").wait_for()
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label("New password (at least 8 characters)").fill("rosa-own-password")
    page.get_by_label("Repeat the new password").fill("rosa-own-password")
    page.get_by_role("button", name="Save password").click()
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    task_id(page)
    shot(page, "03-rate-first-item")

    # 3. ten grades with the keyboard, then undo (U) and grade the returned item again
    levels = [5, 4, 3, 2, 1, 4, 4, 5, 3, 2]
    seen = [task_id(page)]
    timings = []
    for level in levels:
        seen.append(press_and_wait(page, str(level)))
        caption = one_text(page, r"next item ready in \d+ ms")
        timings.append(int(re.search(r"in (\d+) ms", caption).group(1)))
    assert len(set(seen)) == 11
    shot(page, "04-rate-after-ten")
    page.keyboard.press("u")
    page.get_by_text("Undone: the previous item is back.").wait_for()
    assert task_id(page) == seen[9]
    shot(page, "05-rate-undone")
    press_and_wait(page, "2")

    # 4. side by side, blind, with A / B
    go(page, "Compare")
    task_id(page)  # the caption; the headings and lists are drawn after it
    page.locator("[data-testid='stColumn'] .rs-row").first.wait_for()
    assert page.get_by_role("heading", name="A", exact=True).count() == 1
    assert not page.get_by_text(re.compile(r"\b(bm25|random)\b")).count()  # blind: no model names
    shot(page, "06-compare")
    press_and_wait(page, "a")
    page.keyboard.press("b")
    page.get_by_text("Nothing left to compare in this campaign").wait_for()
    shot(page, "07-compare-done")

    # 5. a viewer reads the dashboard: the new labels, per language
    viewer = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    viewer.set_default_timeout(WAIT_MS * 2)
    sign_in(viewer, base, "vic", USERS["vic"][1])
    viewer.get_by_role("heading", name="Dashboard", level=1).wait_for()
    # the first dashboard load computes every section (nDCG with bootstrap CIs among them) before this last one;
    # on a loaded 2-core machine that took over 40 s once (issue 14 tracks the dashboard's speed)
    viewer.get_by_role("heading", name="Label throughput").wait_for(timeout=WAIT_MS * 4)
    settle(viewer)
    shot(viewer, "08-dashboard")
    viewer.get_by_text(re.compile(r"Rater labels in force per (day|hour)")).wait_for()  # the throughput chart
    viewer.context.close()

    # 6. the labels are in the database: ten in force, one undone (a retraction row), two comparisons
    from db.models import Comparison, Label
    from core.store.session import session_scope
    with session_scope(server["url"]) as s:
        rows = s.execute(select(Label.level, Label.supersedes_id).where(Label.rater == "rosa")
                         .order_by(Label.id)).all()
        comps = s.scalars(select(Comparison.answer).where(Comparison.rater == "rosa")).all()
    assert [r.level for r in rows] == levels + [None, 2]
    assert rows[10].supersedes_id is not None
    assert sorted(comps) == ["A", "B"]
    (SHOTS / "keypress_ms.txt").write_text(" ".join(map(str, timings)) + "\n")
    assert sorted(timings)[len(timings) // 2] < 1000  # the goal is 150 ms; this only catches a broken path
