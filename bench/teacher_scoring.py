"""Teacher bulk scoring: one ``predict_pairs`` call over many pairs against the same pairs in small calls.

Usage: python bench/teacher_scoring.py [--pairs 192] [--call-pairs 16] [--record]

A scoring job used to pay the teacher's feature prior per batch of 16 pairs: one product warm-up (and one
embedding-cache file) and one query embedding call per query, per batch. ``predict_pairs`` now computes the
prior of all its pairs at once. Calling it on ``--call-pairs`` pairs at a time reproduces the old per-batch cost;
one call over all pairs is the new path. Both run here, in one process, on the same seeded sample of
``data/esci_multilingual/judgments.csv`` (its three languages), after a warm-up call; the probabilities of the
two paths are compared too (they must agree).

Prints one JSON line: ``{"pairs": N, "small_calls_pairs_per_s": …, "one_call_pairs_per_s": …, "ratio": …,
"max_abs_diff": …}``; ``--record`` appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import append, utc_now  # noqa: E402 (needs ROOT on the path)


def measure(n_pairs: int, call_pairs: int) -> dict:
    from core.cache import get_catalog, get_scorer
    from core.text.queries import clean_query

    judged = pd.read_csv(ROOT / "data" / "esci_multilingual" / "judgments.csv").sample(n_pairs, random_state=1)
    teacher, catalog = get_scorer("teacher"), get_catalog()
    products = catalog.rows(judged["product_id"].tolist()).to_dict("records")
    queries = [clean_query(q) for q in judged["query"]]
    teacher.predict_pairs(queries[:8], products[:8])  # load the weights, the tokenizer and the prior's features
    t0 = time.perf_counter()
    small = np.concatenate([teacher.predict_pairs(queries[i:i + call_pairs], products[i:i + call_pairs])
                            for i in range(0, n_pairs, call_pairs)])
    t_small = time.perf_counter() - t0
    teacher.prior._cache.clear()  # the second path must compute the prior's features again
    t0 = time.perf_counter()
    one = teacher.predict_pairs(queries, products)
    t_one = time.perf_counter() - t0
    return {"pairs": n_pairs, "call_pairs": call_pairs, "small_calls_pairs_per_s": round(n_pairs / t_small, 1),
            "one_call_pairs_per_s": round(n_pairs / t_one, 1), "ratio": round(t_small / t_one, 2),
            "max_abs_diff": float(np.abs(small - one).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=192)
    ap.add_argument("--call-pairs", type=int, default=16)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    result = measure(args.pairs, args.call_pairs)
    print(json.dumps(result))
    if args.record:
        append(f"\n## Teacher bulk scoring: the feature prior once per call ({utc_now()})\n\n"
               f"`python bench/teacher_scoring.py --pairs {args.pairs} --call-pairs {args.call_pairs}` on "
               f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores, no GPU, Python "
               f"{platform.python_version()}; the committed teacher (e5-small-ce + feature prior) on a seeded sample "
               f"of esci_multilingual pairs.\n\n```\n{json.dumps(result)}\n```\n")


if __name__ == "__main__":
    main()
