"""20 concurrent raters (threads and forked processes) on SQLite and PostgreSQL: no label lost, no task rated by
more raters than it asks for, no rater given a task twice. The full 20 × 500 run is marked slow; its figures are
in bench/RESULTS.md (bench/concurrency.py)."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from conftest import ROOT
from core.campaigns import CampaignSpec, create_campaign, progress
from db.models import Label, Task
from core.store.session import session_scope

sys.path.insert(0, str(ROOT))
from bench.concurrency import check, make_campaign, rate, seed_store, simulate  # noqa: E402

RATERS = 20
CASES = [("sqlite", "threads"), ("sqlite", "processes"), ("postgres", "threads"), ("postgres", "processes")]
IDS = [f"{b}-{m}" for b, m in CASES]


def _url(request, backend: str) -> str:
    return request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")


def _run(url: str, mode: str, per_rater: int) -> dict:
    names = seed_store(url, RATERS)
    make_campaign(url, "load", names, per_rater)
    result = simulate(url, "load", names, per_rater, mode)
    assert result["labels_returned"] == result["labels_asked"] == RATERS * per_rater
    assert {k: result[k] for k in ("lost", "unexpected", "over_assigned_tasks", "counter_mismatch",
                                   "repeated_task_rater")} == dict.fromkeys(
        ("lost", "unexpected", "over_assigned_tasks", "counter_mismatch", "repeated_task_rater"), 0)
    assert result["labels_stored"] == result["done_assignments"] == RATERS * per_rater
    return result


@pytest.mark.parametrize("backend, mode", CASES, ids=IDS)
def test_twenty_raters_lose_nothing_and_never_exceed_the_overlap(request, backend, mode):
    _run(_url(request, backend), mode, per_rater=20)


@pytest.mark.slow
@pytest.mark.parametrize("backend, mode", CASES, ids=IDS)
def test_twenty_raters_times_500_labels(request, backend, mode):
    _run(_url(request, backend), mode, per_rater=500)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_scarce_tasks_go_to_exactly_k_raters_under_contention(request, backend):
    url = _url(request, backend)
    names = seed_store(url, RATERS)
    create_campaign(CampaignSpec("scarce", n_tasks=10, raters=tuple(names), overlap_k=3, candidates="store"), url=url)
    with ThreadPoolExecutor(RATERS) as pool:
        results = list(pool.map(lambda i: rate(url, "scarce", names[i], 100, i), range(RATERS)))
    assert sum(map(len, results)) == 30
    assert check(url, "scarce", [r for r in results if r])["over_assigned_tasks"] == 0
    with session_scope(url) as s:
        per_task = s.execute(select(Task.id, func.count(func.distinct(Label.rater)))
                             .join(Label, Label.task_id == Task.id).group_by(Task.id)).all()
    assert sorted(n for _, n in per_task) == [3] * 10
    assert progress("scarce", url=url).fraction == 1.0
