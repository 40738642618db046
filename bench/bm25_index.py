"""BM25 on the demo catalog: building the index against loading it from the disk cache, and scoring every
judged pair of esci_multilingual in one sparse product (``score_pairs``) against one query at a time.

Usage: python bench/bm25_index.py [--db data/relevance.db]

Prints one JSON line: seconds of each and the two ratios, measured in this one run (the cache folder is a
fresh temporary one, so the first build is a real build).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default=str(ROOT / "data" / "relevance.db"))
    args = ap.parse_args(argv)
    import numpy as np
    import pandas as pd

    from core.models.rankers import BM25Ranker
    from core.store.catalog import load_catalog

    catalog = load_catalog(f"sqlite:///{Path(args.db).resolve()}")
    pairs = pd.read_csv(ROOT / "data" / "esci_multilingual" / "judgments.csv")
    queries, products = pairs["query"].tolist(), pairs["product_id"].tolist()
    with tempfile.TemporaryDirectory() as cache:
        t = time.perf_counter()
        built = BM25Ranker(catalog, cache_dir=cache)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        loaded = BM25Ranker(catalog, cache_dir=cache)
        load_s = time.perf_counter() - t
    t = time.perf_counter()
    at_once = loaded.score_pairs(queries, products)
    pairs_s = time.perf_counter() - t
    t = time.perf_counter()
    one_by_one = np.array([built.score(q, [p])[0] for q, p in zip(queries, products)])
    loop_s = time.perf_counter() - t
    print(json.dumps({"products": len(catalog), "pairs": len(pairs), "build_s": round(build_s, 3),
                      "load_s": round(load_s, 3), "build_over_load": round(build_s / load_s, 1),
                      "pairs_at_once_s": round(pairs_s, 3), "one_query_at_a_time_s": round(loop_s, 3),
                      "loop_over_at_once": round(loop_s / pairs_s, 1),
                      "max_abs_difference": float(np.abs(at_once - one_by_one).max()),
                      "cores": os.cpu_count(), "load_avg": round(os.getloadavg()[0], 2)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
