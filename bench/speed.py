"""Teacher against student speed on the same pairs, and the student's latency on 1,000 candidates.

Usage: python bench/speed.py [--pairs 512] [--latency-queries 300] [--record]

Prints the DESIGN.md JSON line, measured in one run:
``{"pairs": N, "teacher_pairs_per_s": …, "student_pairs_per_s": …, "ratio": …, "student_p50_ms_1000": …,
"student_p99_ms_1000": …}``.

* pairs: the first ``--pairs`` judged pairs of the teacher's dev queries (artifacts/distill/dev_judgments.csv),
  or of the store's judgments; both models score them through the same bulk interface, ``predict_pairs``
  (teacher: batch 32, length-bucketed; student: queries embedded in one batch, product embeddings cached);
* latency: ``core.serve.rank`` of 1,000 seeded random catalog products for each of ``--latency-queries``
  distinct stored queries (query embedding, language, BM25 and the MLP each time), after 10 warm-up calls.

``--record`` appends a section with the figures, date and machine to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import append, utc_now  # noqa: E402 (needs ROOT on the path)


def _pairs(n: int, url: str | None) -> pd.DataFrame:
    from core import config
    from core.store.pairs import judged_pairs

    dev = config.path("artifacts_dir") / "distill" / "dev_judgments.csv"
    df = pd.read_csv(dev) if dev.exists() else judged_pairs(url)
    return df[["query_id", "query", "product_id"]].head(n).reset_index(drop=True)


def _queries(url: str | None) -> list[str]:
    from sqlalchemy import select

    from db.models import Query
    from core.store.session import session_scope

    with session_scope(url) as s:
        return sorted(t for (t,) in s.execute(select(Query.text)).all() if t.strip())


def measure(n_pairs: int = 512, n_latency: int = 300, url: str | None = None, seed: int = 0) -> dict:
    from core.cache import get_catalog, get_scorer
    from core.serve import rank

    catalog = get_catalog(url)
    pairs = _pairs(n_pairs, url)
    rows = catalog.rows(pairs["product_id"].tolist()).to_dict("records")
    teacher = get_scorer("teacher", url)
    teacher.predict_pairs(pairs["query"].tolist()[:32], rows[:32])  # warm-up
    t0 = time.perf_counter()
    teacher.predict_pairs(pairs["query"].tolist(), rows, batch_size=32)
    teacher_s = time.perf_counter() - t0

    student = get_scorer("student", url)
    student.features.warm()  # every product's embedding, from the disk cache
    student.predict_pairs(pairs["query"].tolist(), rows)  # warm-up (lingua loads its models lazily)
    reps, t0 = 0, time.perf_counter()
    while reps == 0 or time.perf_counter() - t0 < 2.0:
        student.predict_pairs(pairs["query"].tolist(), rows)
        reps += 1
    student_s = (time.perf_counter() - t0) / reps

    rng = np.random.default_rng(seed)
    ids = catalog.ids.to_numpy()
    queries = _queries(url)
    n_lat = min(n_latency, len(queries)) if queries else 0
    cands = [ids[rng.choice(len(ids), 1000, replace=False)].tolist() for _ in range(n_lat + 10)]
    for i in range(10):
        rank(f"warm up query {i}", cands[n_lat + i], url=url)
    lat = []
    for q, c in zip(queries[:n_lat], cands):
        t0 = time.perf_counter()
        rank(q, c, url=url)
        lat.append((time.perf_counter() - t0) * 1000)
    tps, sps = len(pairs) / teacher_s, len(pairs) / student_s
    return {"pairs": len(pairs), "teacher_pairs_per_s": round(tps, 2), "student_pairs_per_s": round(sps, 1),
            "ratio": round(sps / tps, 1), "student_p50_ms_1000": round(float(np.percentile(lat, 50)), 2),
            "student_p99_ms_1000": round(float(np.percentile(lat, 99)), 2)}


def teacher_kind() -> str:
    """What the committed teacher is, from its teacher.json."""
    from core import config

    meta = json.loads((config.artifact("teacher") / "teacher.json").read_text())
    if meta.get("arch") == "biencoder":
        cfg = meta["biencoder"]["config"]
        return (f"feature prior + e5 bi-encoder fine-tuned from {cfg['base']}, no cross-encoder; each query and product "
                f"embedded once, in batches of 64")
    return f"{meta['config']['backbone']} cross-encoder, LoRA merged; batch 32, length-bucketed"


def record(result: dict, n_latency: int) -> None:
    from core.workflows.cards.common import machine

    now = utc_now()
    text = (f"\n## Teacher vs student speed (bench/speed.py)\n\nRun `.venv/bin/python bench/speed.py` on {now} on "
            f"{machine()}. Teacher: artifacts/teacher ({teacher_kind()}, fp32, torch CPU threads default); "
            f"student: artifacts/student (numpy; product embeddings cached). Throughput: {result['pairs']} pairs of "
            f"the teacher's dev queries, the same pairs for both, each through its bulk `predict_pairs` (student: "
            f"the pairs' queries embedded in one batch). Latency: "
            f"`core.serve.rank` over 1,000 random catalog products, {n_latency} distinct stored queries.\n\n"
            f"```\n{json.dumps(result)}\n```\n\n"
            f"| teacher pairs/s | student pairs/s | ratio | student p50 ms (1,000) | student p99 ms (1,000) |\n"
            f"|---|---|---|---|---|\n| {result['teacher_pairs_per_s']} | {result['student_pairs_per_s']} | "
            f"{result['ratio']}× | {result['student_p50_ms_1000']} | {result['student_p99_ms_1000']} |\n")
    append(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=512)
    ap.add_argument("--latency-queries", type=int, default=300)
    ap.add_argument("--db", default=None)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()
    result = measure(args.pairs, args.latency_queries, args.db)
    print(json.dumps(result), flush=True)
    if args.record:
        record(result, args.latency_queries)


if __name__ == "__main__":
    main()
