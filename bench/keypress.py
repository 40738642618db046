"""Rater keypress to next item, measured where the rater sees it: in Chromium, against `streamlit run app.py`.

Usage: python bench/keypress.py [--presses 40] [--append] [--core]

Builds a temporary SQLite store (demo catalog and judgments, a 200-task random grade campaign, a rater
and a viewer), serves the app (tests/browser/app_server.py), signs the rater in with Playwright + Debian's
Chromium and grades with the keyboard. Each figure is key → next item visible: the page's own clock, from
the keydown event's time stamp to the second animation frame after the "task N · keys" caption shows another
task than the one on screen before the key (a listener this script installs; it does not trust the app's own
figures). Rate draws the next item in the browser while the server saves the answer (ui/keypad.py), so the
JSON also has ``<round>_ack``: key → the server's answer confirmed, the app's own figure. Two rounds:

- ``alone``: the rater alone;
- ``dashboard``: a viewer's dashboard is (re)loaded every few presses, so the server recomputes it while
  the rater grades (each new label invalidates it).

Prints one JSON line (median and p95 per round, and their ratios to the goals); ``--append`` adds a dated
section to bench/RESULTS.md with the machine and its load average. ``--core`` adds the store work of one
keypress alone (``submit_grade`` + ``next_task``). Goals on an idle 2-core machine: median ≤ 150 ms, p95 ≤
300 ms alone; p95 ≤ 500 ms while the dashboard recomputes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import append  # noqa: E402 (needs ROOT on the path)
DEMO = ROOT / "data" / "esci_us"


def _stats(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"median": round(statistics.median(ms), 1), "p90": round(ms[int(0.9 * (len(ms) - 1))], 1), "n": len(ms)}


def build_store(folder: Path) -> str:
    url = f"sqlite:///{folder / 'bench.db'}"
    os.environ["RELEVANCE_DB_URL"] = url
    from core.campaigns import CampaignSpec, create_campaign
    from core.ingest import import_judgments, import_products
    from core.store.users import add_user
    from db.migrate import upgrade

    upgrade(url)
    import_products(DEMO / "products.jsonl.gz", name="esci_us", url=url)
    import_judgments(DEMO / "judgments.csv", name="esci_us", url=url)
    for name in ("core-rater", "page-rater"):
        add_user(name, "rater", "bench-password", url=url)
    add_user("bench-viewer", "viewer", "bench-password", url=url)
    create_campaign(CampaignSpec(name="bench", n_tasks=200, raters=("core-rater", "page-rater"),
                                 candidates="store"), url=url)
    return url


def core_path(url: str, items: int) -> list[float]:
    from core.campaigns import next_task, progress, submit_grade

    out = []
    task = next_task("bench", "core-rater", url=url)
    for i in range(items):
        t0 = time.perf_counter()
        submit_grade(task.assignment_id, "core-rater", 1 + i % 5, url=url)
        task = next_task("bench", "core-rater", url=url)
        progress("bench", url=url)
        out.append((time.perf_counter() - t0) * 1000)
    return out


_PROBE = r"""() => {
  if (window.__bench) return;
  const B = window.__bench = {t0: null, from: null, ms: []};
  const visible = () => {
    const ps = [...document.querySelectorAll('p')].filter(p => /^task \d+ · keys/.test(p.innerText));
    return ps.length === 1 ? Number(ps[0].innerText.split(' ')[1]) : null;
  };
  // t0: the key event's own time stamp (the app's handlers run before this listener); B.from is set by the
  // bench before each press (the task on screen then), since an app may draw the next item within its handler
  window.addEventListener('keydown', (e) => { B.t0 = e.timeStamp; watch(); }, true);
  function watch() {
    const now = visible();
    if (B.t0 !== null && now !== null && now !== B.from) {
      const t0 = B.t0; B.t0 = null;
      requestAnimationFrame(() => requestAnimationFrame(() => B.ms.push(performance.now() - t0)));
      return;
    }
    if (B.t0 !== null) requestAnimationFrame(watch);
  }
}"""


def _pct(ms: list[float], q: float) -> float:
    ms = sorted(ms)
    return round(ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))], 1)


def _summary(ms: list[float]) -> dict:
    return {"median": round(statistics.median(ms), 1), "p95": _pct(ms, 0.95), "n": len(ms)}


def browser_path(url: str, folder: Path, presses: int) -> dict[str, list[float]]:
    sys.path[:0] = [str(ROOT / "tests" / "browser"), str(ROOT / "tests")]
    from playwright.sync_api import sync_playwright

    from app_server import serve_app
    from browser_kit import CHROMIUM, settle, sign_in, task_id

    out: dict[str, list[float]] = {}
    with serve_app(url, folder) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        rater = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        rater.set_default_timeout(60_000)
        sign_in(rater, base, "page-rater", "bench-password")
        rater.get_by_role("heading", name="Rate", level=1).wait_for()
        settle(rater)
        viewer = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        viewer.set_default_timeout(120_000)
        sign_in(viewer, base, "bench-viewer", "bench-password")
        viewer.get_by_role("heading", name="Dashboard", level=1).wait_for()
        for mode in ("alone", "dashboard"):
            rater.evaluate("() => { if (window.__bench) window.__bench.ms = []; }")
            rater.evaluate(_PROBE)
            for i in range(presses):
                if mode == "dashboard" and i % 4 == 0:
                    viewer.goto(base + "/dashboard", wait_until="commit")  # the server recomputes it meanwhile
                before = task_id(rater)
                settle(rater)
                rater.evaluate("(b) => { window.__bench.from = b; }", before)
                rater.keyboard.press(str(1 + i % 5))
                rater.wait_for_function("(n) => window.__bench.ms.length >= n", arg=i + 1)
                assert task_id(rater) != before
            out[mode] = rater.evaluate("() => window.__bench.ms")
            # the app's own figure of key → answer confirmed by the server (ui/keypad.py), once all are
            rater.wait_for_function("() => !window.__rsKeys.pending")
            out[mode + "_ack"] = rater.evaluate(f"() => window.__rsKeys.timings.slice(-{presses}).map(t => t.ack)")
        browser.close()
    return out


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()}-core {platform.machine()} Linux{mem}, Python {platform.python_version()}"


GOALS = {"alone": {"median": 150, "p95": 300}, "dashboard": {"p95": 500}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presses", type=int, default=40)
    p.add_argument("--core", action="store_true", help="also time submit_grade + next_task alone")
    p.add_argument("--label", default="", help="what was measured (e.g. a commit), for RESULTS.md")
    p.add_argument("--append", action="store_true", help="append a section to bench/RESULTS.md")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="keypress-"))
    load_start = os.getloadavg()
    try:
        t0 = time.perf_counter()
        url = build_store(folder)
        setup_s = time.perf_counter() - t0
        core = core_path(url, 30) if args.core else None
        from db.session import dispose_all
        dispose_all()
        ms = browser_path(url, folder, args.presses)
    finally:
        from db.session import dispose_all
        dispose_all()
        shutil.rmtree(folder, ignore_errors=True)
    load_end = os.getloadavg()
    ms = {m: [x for x in v if x is not None] for m, v in ms.items()}
    result = {"presses": args.presses, **{m: _summary(v) for m, v in ms.items() if v},
              "load_1min": [round(load_start[0], 2), round(load_end[0], 2)], "setup_s": round(setup_s, 1)}
    result["ratios_to_goal"] = {f"{m}_{k}": round(result[m][k] / g, 2) for m, goals in GOALS.items()
                                for k, g in goals.items()}
    if core:
        result["core_ms"] = _stats(core)
    print(json.dumps(result))
    if args.append:
        now = datetime.now(timezone.utc)
        a, d = result["alone"], result["dashboard"]
        append(f"""
## Rater keypress → next item visible in Chromium (bench/keypress.py){' — ' + args.label if args.label else ''}

`.venv/bin/python bench/keypress.py --presses {args.presses} --append` on {now:%Y-%m-%d} ({now:%H:%M} UTC), {machine()};
1-min load average {load_start[0]:.2f} at the start and {load_end[0]:.2f} at the end (the 2 cores were shared
with other work: the figures are inflated). Key → next item visible, measured in the page (keydown → second
animation frame after the new task's caption), {args.presses} keyboard grades per round:

| round | median ms | p95 ms | goal | ratio to goal |
|---|---|---|---|---|
| alone | **{a['median']}** | **{a['p95']}** | median ≤ 150, p95 ≤ 300 | {result['ratios_to_goal']['alone_median']} / {result['ratios_to_goal']['alone_p95']} |
| viewer's dashboard recomputing | {d['median']} | **{d['p95']}** | p95 ≤ 500 | {result['ratios_to_goal']['dashboard_p95']} |
""" + "".join(f"| key → answer confirmed by the server, {m} (the app's figure) | {result[m + '_ack']['median']} | "
              f"{result[m + '_ack']['p95']} | | |\n" for m in ("alone", "dashboard") if m + "_ack" in result))


if __name__ == "__main__":
    main()
