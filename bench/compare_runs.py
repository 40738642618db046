"""Two cross-validation runs of the teacher against each other on the test folds both have (issue 12).

The card compares each run with its own prior (epoch 0); this prints run B against run A directly, last epoch of
each, on the same pairs: per language accuracy and AUC exact vs irrelevant with 95% bootstrap CIs over queries and
paired bootstrap p-values (``core.metrics.pointwise.pointwise_rows``, Holm over the languages), and the mean of the
folds' AUCs (``core.workflows.cards.cv_runs.fold_scores``: what the card's tables quote).

    .venv/bin/python bench/compare_runs.py artifacts/teacher/cv bienc-top4 bienc-top4-allpairs
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.metrics import expected_level  # noqa: E402 (needs the project root on the path)
from core.metrics.pointwise import ModelOutput, holm_in_place, pointwise_rows  # noqa: E402
from core.scale import PROB_COLS  # noqa: E402
from core.workflows.cards.cv_runs import fold_scores, last_epoch_number, mean_auc  # noqa: E402

KEY = ["fold", "query_id", "product_id"]


def last_epoch(folder: Path, name: str) -> pd.DataFrame:
    preds = pd.read_parquet(folder / f"{name}.parquet")
    return preds[preds["epoch"] == preds["epoch"].max()].sort_values(KEY).reset_index(drop=True)


def common_runs(folder: Path, names: list[str]) -> tuple[list[int], dict[str, pd.DataFrame]]:
    """(the test folds every run ran, each run's last epoch on them), the runs checked to have scored the same
    pairs with the same levels there."""
    runs = {n: last_epoch(folder, n) for n in names}
    folds = sorted(set.intersection(*(set(r["fold"]) for r in runs.values())))
    runs = {n: r[r["fold"].isin(folds)].reset_index(drop=True) for n, r in runs.items()}
    first = runs[names[0]][KEY + ["level"]]
    for n, r in runs.items():
        if not r[KEY + ["level"]].equals(first):
            raise SystemExit(f"run {n}'s test pairs differ from {names[0]}'s on their common folds")
    return folds, runs


def compare(folder: Path, name_a: str, name_b: str) -> tuple[list[int], pd.DataFrame, list[dict]]:
    """(the common folds, run A's test pairs on them, one row per language: ``acc_a``/``acc_b``, ``p_acc``,
    pooled ``auc_a``/``auc_b``, ``p_auc`` (paired bootstrap, Holm over the languages), fold-mean
    ``mean_auc_a``/``mean_auc_b``)."""
    folds, runs = common_runs(folder, [name_a, name_b])
    a, b = runs[name_a], runs[name_b]
    outputs = {}
    for side, preds in (("A", a), ("B", b)):
        probs = preds[PROB_COLS].to_numpy()
        outputs[side] = ModelOutput(expected_level(probs), probs.argmax(1) + 1)
    every = pointwise_rows(a, outputs)
    ref = {r["language"]: r for r in every if r["model"] == "A"}
    rows = [r for r in every if r["model"] == "B"]
    holm_in_place(rows)
    docs = {n: json.loads((folder / f"{n}.json").read_text()) for n in (name_a, name_b)}
    scores = fold_scores(folder, docs)
    out = []
    for r in rows:
        lang, r0 = r["language"], ref[r["language"]]
        out.append({"language": lang, "acc_a": r0["accuracy"], "acc_b": r["accuracy"], "p_acc": r["p_holm"],
                    "auc_a": r0["auc"], "auc_b": r["auc"], "p_auc": r["p_holm_auc"],
                    **{f"mean_auc_{side}": mean_auc(scores, n, lang, last_epoch_number(docs[n]), set(folds))
                       for side, n in (("a", name_a), ("b", name_b))}})
    return folds, a, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("a", help="the reference run")
    ap.add_argument("b")
    args = ap.parse_args()
    folds, pairs, rows = compare(args.folder, args.a, args.b)
    docs = {n: json.loads((args.folder / f"{n}.json").read_text()) for n in (args.a, args.b)}
    print(f"B = {args.b} against A = {args.a}, last epochs, folds {', '.join(map(str, folds))} "
          f"({len(pairs)} pairs, {pairs['query_id'].nunique()} queries); minutes a fold: "
          + "; ".join(f"{n} {[f['minutes'] for f in d['folds'] if f['fold'] in folds]}" for n, d in docs.items()))
    print(f"{'language':8} {'acc A':>6} {'acc B':>6} {'p(Holm)':>8} {'AUC A':>6} {'AUC B':>6} {'p(Holm)':>8}"
          f"  fold-mean AUC A -> B  (AUC pooled over the folds' pairs)")
    for r in rows:
        print(f"{r['language']:8} {r['acc_a']:6.3f} {r['acc_b']:6.3f} {r['p_acc']:8.3g} {r['auc_a']:6.3f} "
              f"{r['auc_b']:6.3f} {r['p_auc']:8.3g}  {r['mean_auc_a']:.3f} -> {r['mean_auc_b']:.3f}")


if __name__ == "__main__":
    main()
