"""Does the cross-encoder alone know something the feature prior does not? Reads two cross-validation runs of the
teacher card (``artifacts/teacher/cv``): a cross-encoder trained without a prior (``--prior none``) and the
prior-only run on the same training setting, on the test folds both have, and compares per language:

- the prior alone, the cross-encoder alone (its last epoch), and their blend (the mean of the two models' level
  probabilities, weight 0.5 fixed beforehand: nothing is tuned on a test fold), with 95% bootstrap CIs over
  queries and paired tests against the prior (Holm);
- the Spearman correlation of the two models' expected levels (1 would mean the cross-encoder adds nothing).

Prints one JSON line per model and language. Needs only the two runs' Parquet files.

    .venv/bin/python bench/teacher_blend.py [--ce pw-no-prior] [--prior prior-pw-only]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from core.metrics import expected_level
from core.metrics.pointwise import ModelOutput, holm_in_place, pointwise_rows
from core.scale import PROB_COLS

CV = Path(__file__).resolve().parent.parent / "artifacts" / "teacher" / "cv"
KEY = ["fold", "query_id", "product_id"]


def _last_epoch(preds: pd.DataFrame) -> pd.DataFrame:
    return preds[preds["epoch"] == preds["epoch"].max()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ce", default="pw-no-prior", help="the cross-encoder run without a prior")
    ap.add_argument("--prior", default="prior-pw-only", help="the prior-only run of the same training setting")
    ap.add_argument("--folder", default=str(CV))
    args = ap.parse_args()
    folder = Path(args.folder)
    ce = _last_epoch(pd.read_parquet(folder / f"{args.ce}.parquet"))
    prior = _last_epoch(pd.read_parquet(folder / f"{args.prior}.parquet"))
    both = prior.merge(ce[KEY + PROB_COLS], on=KEY, suffixes=("", "_ce")).sort_values(KEY).reset_index(drop=True)
    p_prior = both[PROB_COLS].to_numpy()
    p_ce = both[[c + "_ce" for c in PROB_COLS]].to_numpy()
    blend = (p_prior + p_ce) / 2
    outputs = {name: ModelOutput(expected_level(p), p.argmax(1) + 1)
               for name, p in (("prior", p_prior), (f"{args.ce} (last epoch)", p_ce), ("blend 0.5/0.5", blend))}
    rows = pointwise_rows(both, outputs)
    holm_in_place(rows)
    folds = sorted(both["fold"].unique().tolist())
    scores = both.assign(a=outputs["prior"].scores, b=outputs[f"{args.ce} (last epoch)"].scores)
    groups = {"all": scores, **dict(tuple(scores.groupby("language")))}
    rho = {lang: round(float(g["a"].corr(g["b"], method="spearman")), 3) for lang, g in groups.items()}
    for r in rows:
        print(json.dumps({"model": r["model"], "language": r["language"], "folds": folds, "pairs": r["n_pairs"],
                          "accuracy": round(r["accuracy"], 4), "auc": round(r["auc"], 4),
                          "auc_ci": [round(r["auc_ci_low"], 4), round(r["auc_ci_high"], 4)],
                          "p_holm_acc": r["p_holm"], "p_holm_auc": r["p_holm_auc"],
                          "spearman_prior_vs_ce": rho[r["language"]]}))


if __name__ == "__main__":
    main()
