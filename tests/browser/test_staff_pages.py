"""Item text is text, a table selection is a set of pairs, and gold comes from the form, in a real browser.

Products and queries come from import files, so they are data, not markup: a title, bullet, description
or query carrying ``![x](http://…)`` or ``<img src=…>`` must show as those characters and make no browser
fetch anything. A trap HTTP server (and Playwright's request log) records every request for the planted
URLs; the rater walks Rate (description opened) and a researcher walks Failures (a planted pair
selected). Then the Failures selection: rows picked under one filter are dropped when the filter changes,
never re-pointed at the pairs that now sit at the same positions (issue 14, item 3). Last, an admin creates
a campaign whose gold pairs come from an import chosen in the form (issue 14, item 5).
"""

from __future__ import annotations

import http.server
import json
import re
import threading

import pandas as pd
import pytest

from app_server import store_app
from browser_kit import WAIT_MS, app_store, go, grid_box, one_text, pick, settle, shot, sign_in

USERS = {k: app_store.USERS[k] for k in ("ada", "rita", "rex")}
PLANTED = "planted"


class _Trap(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        _Trap.hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def trap():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _planted_files(folder, trap: str):
    def img(where: str, i: int) -> str:
        return f"![{where}]({trap}/{where}-{i}.png)"

    products, judgments = [], []
    for i in range(3):
        products.append({
            "product_id": f"PLANT{i}", "title": f"Planted lamp {i} {img('title', i)} **bold**",
            "bullet_points": f"Warm light {img('bullet', i)}\nSecond <img src='{trap}/bullet-html-{i}.png'>",
            "description": f"First line\n\n{img('description', i)}\n\n<img src=\"{trap}/description-html-{i}.png\">",
            "brand": "Lumen", "image": "", "language": "en"})
        judgments.append({"query": f"desk lamp {i} {img('query', i)}", "product_id": f"PLANT{i}",
                          "level": [5, 1, 4][i], "language": "en"})
    (folder / "planted.jsonl").write_text("".join(json.dumps(p) + "\n" for p in products))
    pd.DataFrame(judgments).to_csv(folder / "planted.csv", index=False)
    return folder / "planted.jsonl", folder / "planted.csv"


@pytest.fixture(scope="module")
def planted(tmp_path_factory, _catalog_template, trap):
    """A store with three planted products and queries (one judged pair each) next to the four demo
    queries, a grading campaign over the planted pairs for rita, and stored predictions for Failures."""
    from core.campaigns import CampaignSpec, create_campaign
    from core.ingest import import_judgments, import_products

    def fill(url, folder):
        app_store.prepare(url, folder, campaigns=False, users=USERS)
        products, judgments = _planted_files(folder, trap)
        import_products(products, name=PLANTED, url=url)
        import_judgments(judgments, name=PLANTED, url=url)
        create_campaign(CampaignSpec(name="planted-grade", n_tasks=3, raters=("rita",), candidates="store",
                                     dataset=PLANTED), url=url)
        app_store.write_predictions(url, folder / "artifacts")

    with store_app(tmp_path_factory, _catalog_template, "planted", fill) as served:
        yield served


def _watch(page, trap: str) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(trap) else None)
    return seen


def test_planted_markup_shows_as_text_and_fetches_nothing(planted, page, browser, trap):
    requests = _watch(page, trap)
    sign_in(page, planted["base"], "rita", USERS["rita"][1])
    page.get_by_role("heading", name="Rate", level=1).wait_for()
    settle(page)
    page.get_by_text(re.compile(r"^desk lamp \d !\[query\]\(")).wait_for()  # the query, as typed
    page.get_by_text(re.compile(r"Planted lamp \d !\[title\]\(.*\*\*bold\*\*")).wait_for()
    assert page.get_by_text(re.compile(r"!\[bullet\]\(")).count() == 1
    page.get_by_text("Description", exact=True).click()
    page.get_by_text(re.compile(r"!\[description\]\(")).wait_for()
    assert page.get_by_text(re.compile(r"<img src=")).count() >= 2  # bullet and description, as text
    settle(page)
    shot(page, "item-text-rate")
    assert page.locator(f"img[src^='{trap}']").count() == 0

    staff = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    staff.set_default_timeout(WAIT_MS * 2)
    requests += _watch(staff, trap)
    sign_in(staff, planted["base"], "rex", USERS["rex"][1])
    staff.get_by_role("heading", name="Where to go").wait_for()
    go(staff, "Failures")
    staff.get_by_label("Query contains").fill("desk lamp")
    staff.keyboard.press("Enter")
    staff.get_by_text(re.compile(r"^3 pairs, most disagreeing first")).wait_for()
    settle(staff)
    _select_rows(staff, [0])
    staff.get_by_text("Pin text the teacher read").wait_for()
    header = staff.get_by_test_id("stMarkdownContainer").filter(has_text=re.compile(r"→ PLANT\d: human level"))
    assert re.match(r"desk lamp \d !\[query\]\(http", header.inner_text())  # the query as typed, in the header
    settle(staff)
    shot(staff, "item-text-failures")
    staff.context.close()
    page.wait_for_timeout(500)  # a late image request would arrive within this
    assert requests == [] and _Trap.hits == []


def _select_rows(page, rows: list[int]) -> None:
    """Tick rows of the first table by clicking their selection boxes (Glide draws on a canvas: by position),
    each after the previous click's rerun has shown its selection (the first one loads the teacher's tokenizer
    for the detail panel: slow on a loaded 2-core machine)."""
    box = grid_box(page)  # a rerun may still swap the table (its key names the pairs it shows)
    for n, r in enumerate(rows, 1):
        page.mouse.click(box["x"] + 18, box["y"] + 35 * (r + 1) + 17)
        page.get_by_text(f"Send {n} selected pair(s) to a new grading campaign").wait_for(timeout=WAIT_MS * 4)
        settle(page)


def _change_filter(page, language: str) -> None:
    """Add ``language`` to the Failures filter and wait until the table's caption says the list changed."""
    before = one_text(page, r"^\d+ pairs, most disagreeing first")
    pick(page, "Languages (empty: all)", language)
    page.wait_for_function("(before) => [...document.querySelectorAll('p')].some(p => "
                           "/^\\d+ pairs, most disagreeing first/.test(p.innerText) && p.innerText !== before)",
                           arg=before)
    settle(page)


def test_a_filter_change_never_repoints_the_failures_selection(planted, page):
    sign_in(page, planted["base"], "rex", USERS["rex"][1])
    page.get_by_role("heading", name="Where to go").wait_for()
    go(page, "Failures")
    _change_filter(page, "es")
    _select_rows(page, [0, 1])
    shot(page, "failures-selected")
    _change_filter(page, "en")  # now es and en: rows 0 and 1 are other pairs
    page.get_by_text(re.compile(r"^Send \d+ selected pair")).wait_for(state="detached")
    assert page.get_by_text("Pin text the teacher read").count() == 0
    shot(page, "failures-after-filter")


def test_an_admin_creates_a_campaign_with_gold_from_an_import(planted, page):
    sign_in(page, planted["base"], "ada", USERS["ada"][1])
    page.get_by_role("heading", name="Where to go").wait_for()
    go(page, "Data and campaigns")
    page.get_by_role("tab", name="Campaigns").click()
    page.get_by_label("Name", exact=True).fill("with-gold")
    page.get_by_label("Tasks (pairs; queries for side_by_side)").fill("4")
    slider = page.get_by_test_id("stSlider").filter(has_text="Gold share").get_by_role("slider")
    slider.focus()
    for _ in range(25):  # 0.00 -> 0.25 in steps of 0.01
        page.keyboard.press("ArrowRight")
    page.get_by_test_id("stSlider").filter(has_text="Gold share").get_by_text("0.25").wait_for()
    pick(page, "Gold from (labels with trusted levels)", "planted (import): 3 pairs")
    pick(page, "Raters", "rita")
    page.get_by_role("button", name="Create campaign").click()
    page.get_by_text(re.compile(r"Created grade campaign with-gold: 4 tasks, 2 gold")).wait_for()
    settle(page)
    # the name field is cleared, so a second click cannot say "exists already"
    page.wait_for_function("() => document.querySelector('input[aria-label=\"Name\"]').value === ''")
    shot(page, "campaign-with-gold")
