"""Teacher scoring on CPU, fp32 against dynamic int8 (``--int8``): speed and what int8 costs in quality.

Usage: python bench/teacher_int8.py [--teacher artifacts/teacher] [--record]

Scores every judged pair of the teacher's dev queries (``dev_query_ids`` in teacher.json) twice, with the
fp32 teacher and with ``torch.ao.quantization.quantize_dynamic`` on its Linear layers, through the same
``predict_pairs`` (batch 32, length-bucketed, max length from the teacher's config), and prints one JSON
line: pairs/s of each, their ratio, dev nDCG@20 (esci gains) of each, the largest absolute probability
difference and how often the argmax level agrees. ``--record`` appends a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results import append, utc_now  # noqa: E402 (needs ROOT on the path)


def measure(teacher_dir: Path, url: str | None = None) -> dict:
    from core import metrics
    from core.cache import get_catalog
    from core.campaigns.consensus import training_labels as human_labels
    from core.workflows.distill import dev_query_ids
    from core.models.teacher import load_teacher

    catalog = get_catalog(url)
    human = human_labels(url)
    dev = human[human["query_id"].isin(dev_query_ids(teacher_dir)) & human["product_id"].isin(catalog.ids)]
    rows = catalog.rows(dev["product_id"].tolist()).to_dict("records")
    queries = dev["query"].tolist()
    out = {"pairs": len(dev), "max_length": None}
    probs = {}
    for kind in ("fp32", "int8"):
        teacher = load_teacher(teacher_dir, catalog, int8=kind == "int8")
        out["max_length"] = teacher.max_length
        teacher.predict_pairs(queries[:64], rows[:64])  # warm-up: features, allocator, kernels
        t0 = time.perf_counter()
        probs[kind] = teacher.predict_pairs(queries, rows, batch_size=32)
        out[f"{kind}_pairs_per_s"] = round(len(dev) / (time.perf_counter() - t0), 1)
        run, qrels = {}, {}
        for q, p, lv, s in zip(dev["query_id"], dev["product_id"], dev["level"], probs[kind] @ np.arange(1, 6)):
            run.setdefault(q, {})[p] = float(s)
            qrels.setdefault(q, {})[p] = int(lv)
        out[f"{kind}_ndcg@20_esci"] = round(metrics.summarize(metrics.ndcg_per_query(qrels, run, 20, "esci"))["mean"], 4)
        del teacher
    out["speedup"] = round(out["int8_pairs_per_s"] / out["fp32_pairs_per_s"], 2)
    out["max_abs_prob_diff"] = round(float(np.abs(probs["fp32"] - probs["int8"]).max()), 4)
    out["argmax_agreement"] = round(float((probs["fp32"].argmax(1) == probs["int8"].argmax(1)).mean()), 4)
    return out


def record(result: dict, teacher_dir: Path) -> None:
    from core.workflows.cards.common import machine

    now = utc_now()
    text = (f"\n## Teacher fp32 against dynamic int8 (bench/teacher_int8.py)\n\nRun on {now} on {machine()}; "
            f"teacher {teacher_dir.name} ({result['max_length']} tokens), all {result['pairs']} judged pairs of its "
            f"dev queries, batch 32, length-bucketed, torch CPU threads default.\n\n```\n{json.dumps(result)}\n```\n\n"
            f"| | pairs/s | dev nDCG@20 (esci) |\n|---|---|---|\n"
            f"| fp32 | {result['fp32_pairs_per_s']} | {result['fp32_ndcg@20_esci']} |\n"
            f"| int8 | {result['int8_pairs_per_s']} | {result['int8_ndcg@20_esci']} |\n\n"
            f"int8/fp32 speed {result['speedup']}×; argmax level agrees on {result['argmax_agreement']:.1%} of pairs; "
            f"largest probability difference {result['max_abs_prob_diff']}.\n")
    append(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", default=None, help="teacher artifact folder (default artifacts/teacher)")
    ap.add_argument("--db", default=None)
    ap.add_argument("--record", action="store_true", help="append the figures to bench/RESULTS.md")
    args = ap.parse_args()
    from core import config

    teacher_dir = Path(args.teacher) if args.teacher else config.artifact("teacher")
    result = measure(teacher_dir, args.db)
    print(json.dumps(result), flush=True)
    if args.record:
        record(result, teacher_dir)


if __name__ == "__main__":
    main()
