"""Concurrent raters against the task API: N raters (threads or processes) each submit M labels.

Prints one JSON line per run: backend, mode, raters, labels asked and stored, wall seconds, labels/s, and
the checks (lost labels, tasks rated by more raters than asked, a rater given a task twice), all of which
must be 0. Used by tests/test_concurrency.py with small numbers.

    .venv/bin/python bench/concurrency.py --raters 20 --labels 500 --backend sqlite,postgres --mode threads,processes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade  # noqa: E402
from db.models import Assignment, Label, Product, Query, Task, User  # noqa: E402
from db.session import dispose_all, session_scope  # noqa: E402


def seed_store(url: str, raters: int, queries: int = 60, products_per_query: int = 30) -> list[str]:
    """Products, queries, imported labels (source ``import:seed``) and rater accounts, inserted in bulk."""
    with session_scope(url, immediate=True) as s:
        n_products = products_per_query * 4
        s.execute(insert(Product), [dict(product_id=f"P{i:05d}", title=f"product {i}") for i in range(n_products)])
        s.execute(insert(Query), [dict(query_id=f"q{i:05d}", text=f"query {i}", language="en" if i % 3 else "es",
                                       count=0) for i in range(queries)])
        ppk = list(s.scalars(select(Product.id).order_by(Product.id)))
        qpk = list(s.scalars(select(Query.id).order_by(Query.id)))
        rng = random.Random(0)
        s.execute(insert(Label), [dict(query_pk=q, product_pk=p, level=rng.randint(1, 5), source="import:seed")
                                  for q in qpk for p in rng.sample(ppk, products_per_query)])
        names = [f"rater{i:02d}" for i in range(raters)]
        s.execute(insert(User), [dict(name=n, role="rater", password_hash="-", must_change_password=False,
                                      active=True) for n in names])
    return names


def make_campaign(url: str, name: str, raters: list[str], labels_per_rater: int) -> None:
    """A grade campaign with room for every rater's labels: half the tasks need 3 ratings; 10% gold."""
    need = len(raters) * labels_per_rater
    n_tasks = int(need / 2 * 1.2) + 10  # mean 2 ratings a task, 20% slack
    create_campaign(CampaignSpec(name, n_tasks=n_tasks, raters=tuple(raters), overlap_k=3, overlap_share=0.5,
                                 gold_ratio=0.1, gold_sources=("import:seed",), candidates="store"), url=url)


def rate(url: str, campaign: str, rater: str, n: int, seed: int) -> list[tuple[int, int]]:
    """One rater's session: take a task, grade it, n times; returns (task_id, label_id) of each label."""
    rng, done = random.Random(seed), []
    while len(done) < n:
        task = next_task(campaign, rater, url=url)
        if task is None:
            break
        done.append((task.task_id, submit_grade(task.assignment_id, rater, rng.randint(1, 5),
                                                seconds=rng.uniform(2, 9), url=url)))
    return done


def _rate_star(args):
    return rate(*args)


def simulate(url: str, campaign: str, raters: list[str], per_rater: int, mode: str = "threads") -> dict:
    """Run the raters concurrently (``threads`` or ``processes``, forked); returns figures and checks."""
    jobs = [(url, campaign, r, per_rater, i) for i, r in enumerate(raters)]
    start = time.perf_counter()
    if mode == "threads":
        pool_for_threads(url, len(raters))
        with ThreadPoolExecutor(len(raters)) as pool:
            results = list(pool.map(_rate_star, jobs))
    elif mode == "processes":
        dispose_all()  # children must not inherit open connections
        with multiprocessing.get_context("fork").Pool(len(raters)) as pool:
            results = pool.map(_rate_star, jobs)
    else:
        raise ValueError(f"mode must be threads or processes; got {mode!r}")
    seconds = time.perf_counter() - start
    return {"mode": mode, "raters": len(raters), "labels_asked": len(raters) * per_rater,
            "labels_returned": sum(map(len, results)), "seconds": round(seconds, 2),
            "labels_per_s": round(sum(map(len, results)) / seconds, 1), **check(url, campaign, results)}


def pool_for_threads(url: str, threads: int) -> None:
    """Give a PostgreSQL URL an engine with a connection per thread.

    ``db.session.get_engine`` keeps SQLAlchemy's default pool (5 + 10 overflow). With 20 rater threads in one
    process on 2 busy cores, a thread waiting for one of the 15 connections was starved past the 30 s pool
    timeout (a run of 20 × 500 labels failed so); a pool as large as the threads removes the wait. SQLite
    needs nothing: ``core.campaigns`` queues a process's writers before they take a connection.
    """
    if url.startswith("sqlite"):
        return
    from sqlalchemy import create_engine

    from db import session
    session.dispose(url)
    with session._LOCK:
        session._ENGINES[url] = create_engine(url, pool_pre_ping=True, pool_size=threads, max_overflow=5)


def check(url: str, campaign: str, results: list[list[tuple[int, int]]]) -> dict:
    """Lost labels, over-assigned tasks and repeated (task, rater) pairs, all of which must be 0."""
    returned = {lid for r in results for _, lid in r}
    with session_scope(url) as s:
        cid = s.scalar(select(Task.campaign_id).where(Task.id == results[0][0][0])) if returned else None
        stored = set(s.scalars(select(Label.id).join(Task, Task.id == Label.task_id).where(Task.campaign_id == cid)))
        per_task = s.execute(select(Task.id, Task.required_ratings, Task.ratings_done, Task.is_gold,
                                    func.count(func.distinct(Label.rater)), func.count(Label.id))
                             .join(Label, Label.task_id == Task.id).where(Task.campaign_id == cid)
                             .group_by(Task.id, Task.required_ratings, Task.ratings_done, Task.is_gold)).all()
        repeated = s.scalar(select(func.count()).select_from(
            select(Label.task_id, Label.rater).join(Task, Task.id == Label.task_id).where(Task.campaign_id == cid)
            .group_by(Label.task_id, Label.rater).having(func.count() > 1).subquery()))
        done_assignments = s.scalar(select(func.count()).select_from(Assignment)
                                    .join(Task, Task.id == Assignment.task_id)
                                    .where(Task.campaign_id == cid, Assignment.status == "done"))
    return {"labels_stored": len(stored), "lost": len(returned - stored), "unexpected": len(stored - returned),
            "over_assigned_tasks": sum(1 for _, req, _, gold, raters, _ in per_task if not gold and raters > req),
            "counter_mismatch": sum(1 for _, _, done, _, _, n in per_task if done != n),
            "repeated_task_rater": int(repeated or 0), "done_assignments": int(done_assignments)}


@contextmanager
def postgres_server():
    """A throw-away PostgreSQL from Debian's binaries (as tests/conftest.py starts it)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise SystemExit("PostgreSQL is not installed (Debian package 'postgresql')")
    bindir, as_pg = found[-1].parent, (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else [])
    data = Path(tempfile.mkdtemp(prefix="relevance-bench-pg-"))
    if as_pg:
        shutil.chown(data, "postgres", "postgres")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = lambda *cmd: subprocess.run(as_pg + list(cmd), check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data / "db"), "-U", "postgres", "-A", "trust", "--no-sync")
    run(str(bindir / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        dispose_all()
        subprocess.run(as_pg + [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def _fresh_url(backend: str, server: str | None, tag: str, tmp: Path) -> str:
    from db.migrate import upgrade

    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'{tag}.db'}"
    else:
        from sqlalchemy import create_engine, text
        admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{tag}"'))
        admin.dispose()
        url = f"{server}/{tag}"
    upgrade(url)
    return url


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raters", type=int, default=20)
    p.add_argument("--labels", type=int, default=500, help="labels per rater")
    p.add_argument("--backend", default="sqlite,postgres")
    p.add_argument("--mode", default="threads,processes")
    args = p.parse_args(argv)
    backends, modes = args.backend.split(","), args.mode.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="relevance-bench-"))
    with (postgres_server() if "postgres" in backends else _null()) as server:
        for backend in backends:
            for mode in modes:
                url = _fresh_url(backend, server, f"b_{backend}_{mode}", tmp)
                names = seed_store(url, args.raters, queries=max(60, args.raters * args.labels // 25))
                make_campaign(url, "bench", names, args.labels)
                print(json.dumps({"backend": backend, **simulate(url, "bench", names, args.labels, mode)}), flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


@contextmanager
def _null():
    yield None


if __name__ == "__main__":
    sys.exit(main())
