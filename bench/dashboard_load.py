"""First load of the Dashboard on the demo store, and its rerun after one new rater label.

Usage: python bench/dashboard_load.py [--db data/relevance.db] [--mode both|cold|warm]

Copies the store (default data/relevance.db) to a temporary folder, migrates it (``relevance init``), adds a viewer ``bench-vic`` when the
store has no viewer, and in this fresh process runs ``app.py`` as that viewer through
``streamlit.testing.v1.AppTest`` (the server side of opening the page: every query, metric and chart,
without the websocket and the browser's drawing). Then it reruns the page (every section cached) and,
after one rater label is stored on a labelled pair, reruns it once more. Prints one JSON line, seconds:
``first_load_s``, ``rerun_s``, ``after_new_label_s``, for two modes, each in its own fresh process:

- ``cold``: the viewer's page is the process's first run, so it pays for every import (as if the viewer
  reached a server the moment it started);
- ``warm``: the server has served the sign-in form first (every visitor sees it) and the libraries app.py
  imports in the background meanwhile (ui/preload.py) are in; then the viewer's first load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _viewer(url: str) -> str:
    from sqlalchemy import select

    from core.store.session import session_scope
    from core.store.users import add_user
    from db.models import User

    with session_scope(url) as s:
        name = s.scalar(select(User.name).where(User.role == "viewer", User.active.is_(True)))
    if name:
        return name
    add_user("bench-vic", "viewer", "bench-vic-password", url=url)
    return "bench-vic"


def _add_label(url: str) -> None:
    """One rater label on the first labelled pair (what a rater's keypress stores)."""
    from sqlalchemy import select

    from core.store.session import session_scope
    from db.models import Label

    with session_scope(url) as s:
        first = s.scalar(select(Label).order_by(Label.id).limit(1))
        s.add(Label(query_pk=first.query_pk, product_pk=first.product_pk, level=4, rater="bench-rater",
                    source="human", seconds_spent=3.0))


def measure(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="dash-bench-"))
    shutil.copy(args.db, tmp / "relevance.db")
    url = f"sqlite:///{tmp / 'relevance.db'}"
    os.environ["RELEVANCE_DB_URL"] = url
    from core.workflows.init import init

    init(url, demo=False)  # the copy is migrated to the current schema, as `relevance init` would

    from streamlit.testing.v1 import AppTest

    from ui import auth as ui_auth
    from core.store import auth

    name = _viewer(url)
    if args.mode == "warm":  # the sign-in form first, as every visitor sees it, and the background imports done
        from ui import preload

        AppTest.from_file(str(ROOT / "app.py"), default_timeout=600).run()
        preload.wait(600)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.session_state[ui_auth.USER_KEY] = auth.SessionUser(name, "viewer")
    t0 = time.perf_counter()
    at.run()
    first = time.perf_counter() - t0
    assert not at.exception, [e.message for e in at.exception]
    assert at.title[0].value == "Dashboard", at.title[0].value
    t0 = time.perf_counter()
    at.run()
    rerun = time.perf_counter() - t0
    _add_label(url)
    t0 = time.perf_counter()
    at.run()
    after = time.perf_counter() - t0
    assert not at.exception, [e.message for e in at.exception]
    print(json.dumps({"mode": args.mode, "db": Path(args.db).name, "first_load_s": round(first, 2),
                      "rerun_s": round(rerun, 2), "after_new_label_s": round(after, 2), "cores": os.cpu_count(),
                      "python": platform.python_version()}))
    shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=str(ROOT / "data" / "relevance.db"))
    ap.add_argument("--mode", choices=["both", "cold", "warm"], default="both")
    args = ap.parse_args()
    if args.mode != "both":
        measure(args)
        return
    for mode in ("cold", "warm"):  # each in a fresh process: imports are once per process
        out = subprocess.run([sys.executable, __file__, "--db", args.db, "--mode", mode], capture_output=True,
                             text=True, check=True)
        print(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
