"""Server time from a rater's keypress to the next item, on a store like the demo's.

Usage: python bench/keypress.py [--items 60] [--append]

Builds a temporary SQLite store (demo catalog and judgments, a 200-task random grade campaign, one
rater) and measures, per graded item:

- ``core``: the store work one keypress causes — ``submit_grade``, ``next_task`` and ``progress``
  (what the Rate page's button callback and its rerun call);
- ``page``: the Rate page's own measurement, from the start of the button callback to the end of the
  rerun that renders the next item (``app.py`` + ``views/rate.py``, through ``streamlit.testing``'s
  script runner: the server side of a click, without the websocket and the browser's drawing);
- ``apptest``: the wall time of ``AppTest``'s click-and-rerun (the page figure plus AppTest's overhead).

Prints one JSON line (medians and p90 in ms); ``--append`` adds a dated section to bench/RESULTS.md.
The goal is a median ``page`` time of at most 150 ms.
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


def page_path(items: int) -> tuple[list[float], list[float]]:
    from streamlit.testing.v1 import AppTest

    from core.store.auth import SessionUser
    from ui.auth import USER_KEY

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[USER_KEY] = SessionUser("page-rater", "rater")
    at.run()
    wall = []
    for i in range(items):
        t0 = time.perf_counter()
        at.button(key=f"rate_level_{1 + i % 5}").click().run()
        wall.append((time.perf_counter() - t0) * 1000)
        assert not at.exception, at.exception
    timings = at.session_state["rate_flow"].timings
    return list(timings[-items:]), wall


def machine() -> str:
    mem = ""
    try:
        kb = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{os.cpu_count()}-core {platform.machine()} Linux{mem}, Python {platform.python_version()}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=60)
    p.add_argument("--append", action="store_true", help="append a section to bench/RESULTS.md")
    args = p.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="keypress-"))
    try:
        t0 = time.perf_counter()
        url = build_store(folder)
        setup_s = time.perf_counter() - t0
        core = core_path(url, args.items)
        page, wall = page_path(args.items)
    finally:
        from db.session import dispose_all
        dispose_all()
        shutil.rmtree(folder, ignore_errors=True)
    result = {"items": args.items, "core_ms": _stats(core), "page_ms": _stats(page), "apptest_ms": _stats(wall),
              "goal_page_median_ms": 150, "setup_s": round(setup_s, 1)}
    print(json.dumps(result))
    if args.append:
        now = datetime.now(timezone.utc)
        load = os.getloadavg()[0]
        text = f"""
## Rater keypress to next item (bench/keypress.py)

Run `.venv/bin/python bench/keypress.py --items {args.items} --append` on {now:%Y-%m-%d} ({now:%H:%M} UTC) on a
{machine()} (load average {load:.1f} at the start: the 2 cores were shared with other work), SQLite store
with the demo catalog (6,764 products) and judgments (5,361), a 200-task grade campaign. Milliseconds per
graded item over {args.items} items:

| measure | median | p90 | what it covers |
|---|---|---|---|
| core | {result['core_ms']['median']} | {result['core_ms']['p90']} | `submit_grade` + `next_task` + `progress` (the store work of one keypress) |
| page | **{result['page_ms']['median']}** | {result['page_ms']['p90']} | the Rate page's own figure: button callback start → end of the rerun that renders the next item (`app.py` + `views/rate.py`) |
| apptest | {result['apptest_ms']['median']} | {result['apptest_ms']['p90']} | `AppTest` click + rerun wall time (page + AppTest's overhead) |

Goal: median page time ≤ 150 ms. Nothing on this path loads a model or computes metrics. The browser
test (tests/browser) reads the same page figure from the screen for ten keyboard grades
(test-artifacts/browser/keypress_ms.txt); in a browser the websocket round trip and drawing come on top.
"""
        append(text)


if __name__ == "__main__":
    main()
