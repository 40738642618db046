"""Import speed and memory: N synthetic judgments into a fresh SQLite store.

Usage: python bench/import_speed.py [--rows 1000000 250000] [--products 20000]

Each size runs in its own process (so peak RSS is that import's), on a synthetic catalog, with
queries of random words whose languages are detected during the import. Prints a table and one
JSON line per size: rows, seconds, rows/s, RSS before and peak RSS during the import.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import tempfile
import threading
import time
from pathlib import Path

WORDS = ("red blue green black white large small cotton steel wooden kitchen towel shoe running lamp ceiling "
         "fan light cable charger phone case water bottle chair table desk garden hose drill battery pack "
         "organic coffee tea mug glass plate knife fork spoon pillow blanket sheet queen king twin").split()


def make_files(folder: Path, n_rows: int, n_products: int, per_query: int = 20, seed: int = 0) -> tuple[Path, Path]:
    rng = random.Random(seed)
    products = folder / "products.jsonl"
    with open(products, "w") as f:
        for i in range(n_products):
            f.write(json.dumps({"product_id": f"P{i:07d}", "title": " ".join(rng.choices(WORDS, k=6))}) + "\n")
    judgments = folder / "judgments.csv"
    with open(judgments, "w") as f:
        f.write("query,product_id,level\n")
        n_queries = -(-n_rows // per_query)
        written = 0
        for q in range(n_queries):
            text = " ".join(rng.choices(WORDS, k=rng.randint(2, 4))) + f" {q}"
            for p in rng.sample(range(n_products), per_query):
                if written == n_rows:
                    break
                f.write(f"{text},P{p:07d},{rng.randint(1, 5)}\n")
                written += 1
    return products, judgments


def _measure(n_rows: int, n_products: int, out) -> None:
    import psutil

    from core.ingest import import_judgments, import_products
    from db.migrate import upgrade

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        products, judgments = make_files(tmp, n_rows, n_products)
        url = f"sqlite:///{tmp / 'bench.db'}"
        upgrade(url)
        import_products(products, url=url)
        from core.text.language import detect_language
        detect_language("warm up the detector")
        proc = psutil.Process()
        rss0 = proc.memory_info().rss
        peak, done = [rss0], threading.Event()

        def sample():
            while not done.wait(0.05):
                peak[0] = max(peak[0], proc.memory_info().rss)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        t0 = time.perf_counter()
        report = import_judgments(judgments, url=url)
        secs = time.perf_counter() - t0
        done.set()
        t.join()
        out.put({"rows": n_rows, "inserted": report.inserted, "seconds": round(secs, 1),
                 "rows_per_s": round(n_rows / secs), "rss_before_mb": round(rss0 / 2**20),
                 "peak_rss_mb": round(peak[0] / 2**20), "peak_increase_mb": round((peak[0] - rss0) / 2**20)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[250_000, 1_000_000])
    ap.add_argument("--products", type=int, default=20_000)
    args = ap.parse_args()
    results = []
    ctx = mp.get_context("spawn")
    for n in args.rows:
        q = ctx.Queue()
        p = ctx.Process(target=_measure, args=(n, args.products, q))
        p.start()
        results.append(q.get())
        p.join()
    print(f"{'rows':>10} {'seconds':>8} {'rows/s':>8} {'RSS before':>10} {'peak RSS':>9} {'increase':>9}")
    for r in results:
        print(f"{r['rows']:>10} {r['seconds']:>8} {r['rows_per_s']:>8} {r['rss_before_mb']:>8}MB "
              f"{r['peak_rss_mb']:>7}MB {r['peak_increase_mb']:>7}MB")
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
