"""The student's encoder, decided on the student itself: USE against e5 on the same teacher labels.

Usage: python bench/student_encoders.py [--record]

Trains ``student`` (teacher soft labels, default StudentConfig) once per encoder from
artifacts/distill/teacher_labels.parquet, evaluates both with the teacher and BM25 on the teacher's dev
queries (nDCG@20, esci gains, paired tests against the first), and measures each student's bulk
throughput (``predict_pairs`` on the first 512 dev pairs, the teacher timed on the same pairs) and its
latency ranking 1,000 random catalog products for 150 distinct stored queries (``Student.score``, product
embeddings cached). Writes artifacts/distill/student_encoders.json (quoted by the student's model card);
``--record`` appends a section to bench/RESULTS.md.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()

    from core import config
    from core.cache import get_catalog, get_scorer
    from core.campaigns.consensus import training_labels as human_labels
    from core.workflows.distill import build_training_data, dev_judged, dev_query_ids, train_kind
    from core.workflows.evaluate import evaluate
    from core.models.features import FeatureBuilder, FeatureConfig
    from core.workflows.cards.common import machine
    from core.models.student import Student, StudentConfig

    url = args.db
    catalog = get_catalog(url)
    out = config.path("artifacts_dir") / "distill"
    labels = pd.read_parquet(out / "teacher_labels.parquet")
    human = human_labels(url)
    dev_q = dev_query_ids(config.artifact("teacher"))
    judged = dev_judged(human, dev_q, catalog)
    teacher = get_scorer("teacher", url)
    bench_pairs = judged.pairs.head(512)
    rows = catalog.rows(bench_pairs["product_id"].tolist()).to_dict("records")
    teacher.predict_pairs(bench_pairs["query"].tolist()[:32], rows[:32])
    t0 = time.perf_counter()
    teacher.predict_pairs(bench_pairs["query"].tolist(), rows, batch_size=32)
    teacher_pps = len(rows) / (time.perf_counter() - t0)
    queries = sorted(set(human["query"]) | set(labels["query"]))[:160]
    rng = np.random.default_rng(0)
    cands = [catalog.ids.to_numpy()[rng.choice(len(catalog), 1000, replace=False)].tolist() for _ in queries]

    scorers, results = {}, []
    for enc in ("use", "e5"):
        fb = FeatureBuilder(catalog, FeatureConfig(encoder=enc), bm25=get_scorer("bm25", url))
        data = build_training_data(labels, human, fb, dev_q)
        w = train_kind("student", data, StudentConfig())
        st = Student.from_weights(w, fb, f"student-{enc}")
        scorers[st.name] = st
        st.predict_pairs(bench_pairs["query"].tolist(), rows)
        reps, t0 = 0, time.perf_counter()
        while reps == 0 or time.perf_counter() - t0 < 2.0:
            st.predict_pairs(bench_pairs["query"].tolist(), rows)
            reps += 1
        pps = len(rows) * reps / (time.perf_counter() - t0)
        fb.warm()
        for q, c in zip(queries[:10], cands[-10:]):
            st.score(q, c)
        lat = []
        for q, c in zip(queries[10:], cands):
            t0 = time.perf_counter()
            st.score(q, c)
            lat.append((time.perf_counter() - t0) * 1000)
        results.append({"encoder": enc, "version": fb.encoder.version, "val_kl": w.history[-1]["val_loss"],
                        "best_val_kl": min(h["val_loss"] for h in w.history), "student_pairs_per_s": round(pps, 1),
                        "ratio": round(pps / teacher_pps, 1), "p50_ms_1000": round(float(np.percentile(lat, 50)), 2),
                        "p99_ms_1000": round(float(np.percentile(lat, 99)), 2)})
        print(json.dumps(results[-1]), flush=True)
    rep = evaluate(judged, ["student-use", "student-e5", "teacher", "bm25"], ks=[20], gains=["esci"], url=url,
                   progress=False, scorers={**scorers, "teacher": teacher})
    by_model = {r["model"]: r for r in rep["rows"] if r["language"] == "all"}
    for r in results:
        m = by_model[f"student-{r['encoder']}"]
        r.update(ndcg20_esci=round(m["ndcg"], 4), ci_low=m["ci_low"], ci_high=m["ci_high"],
                 p_holm_vs_use=m["p_holm"])
    doc = {"date": utc_now(), "machine": machine(),
           "teacher_pairs_per_s": round(teacher_pps, 2), "teacher_ndcg20_esci": round(by_model["teacher"]["ndcg"], 4),
           "bm25_ndcg20_esci": round(by_model["bm25"]["ndcg"], 4), "dev_queries": len(dev_q),
           "teacher_pairs": int((~labels["query_id"].isin(dev_q)).sum()), "students": results}
    (out / "student_encoders.json").write_text(json.dumps(doc, indent=1, default=float) + "\n")
    print(json.dumps({k: v for k, v in doc.items() if k != "students"}))
    if args.record:
        lines = "\n".join(f"| {r['encoder']} ({r['version']}) | {r['ndcg20_esci']:.4f} [{r['ci_low']:.3f}, "
                          f"{r['ci_high']:.3f}] | {r['best_val_kl']:.4f} | {r['student_pairs_per_s']} | {r['ratio']}× | "
                          f"{r['p50_ms_1000']} | {r['p99_ms_1000']} |" for r in results)
        append(f"\n## Student encoder on the student itself (bench/student_encoders.py)\n\n"
                    f"Run `.venv/bin/python bench/student_encoders.py` on {doc['date']} on {doc['machine']}. "
                    f"`student` trained on the same {doc['teacher_pairs']} teacher-labelled pairs with each encoder "
                    f"(default StudentConfig), evaluated on the teacher's {doc['dev_queries']} dev queries "
                    f"(teacher {doc['teacher_ndcg20_esci']:.4f}, BM25 {doc['bm25_ndcg20_esci']:.4f}); val KL = the "
                    f"student's best KL to the teacher on its held-out training queries; throughput = "
                    f"`predict_pairs` on 512 dev pairs (teacher {doc['teacher_pairs_per_s']} pairs/s on the same "
                    f"pairs); latency = `Student.score` of 1,000 random products, 150 distinct queries.\n\n"
                    f"| encoder | dev nDCG@20 | val KL | pairs/s | ratio | p50 ms | p99 ms |\n"
                    f"|---|---|---|---|---|---|---|\n{lines}\n")


if __name__ == "__main__":
    main()
