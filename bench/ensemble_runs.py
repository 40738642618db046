"""Would averaging teachers help? Cross-validation runs' level probabilities averaged pair by pair (issue 12).

Each run's last epoch on the test folds all of them have; every combination of two or more runs (or the ones
given with ``--combo a+b``) averages the runs' probabilities and is scored like the card scores one run:
fold-mean AUC exact vs irrelevant of the expected level (``core.metrics.exact_vs_irrelevant_auc``), accuracy of
the most probable level pooled over the folds, per language.

    .venv/bin/python bench/ensemble_runs.py artifacts/teacher/cv bienc-top4 bienc-pw bienc-top4-allpairs
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.compare_runs import KEY, common_runs  # noqa: E402 (needs the project root on the path)
from core.metrics import exact_vs_irrelevant_auc, expected_level  # noqa: E402
from core.scale import PROB_COLS  # noqa: E402

LANGUAGES = ("all", "en", "es", "ja")


def common_pairs(folder: Path, names: list[str]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """(the test pairs every run scored, on the folds all of them ran; each run's (n, 5) probabilities on them)."""
    _, runs = common_runs(folder, names)
    return runs[names[0]][KEY + ["language", "level"]], {n: r[PROB_COLS].to_numpy() for n, r in runs.items()}


def score(pairs: pd.DataFrame, probs: np.ndarray) -> dict[str, tuple[float, float]]:
    """(fold-mean AUC exact vs irrelevant, pooled accuracy) per language and ``all``."""
    expected, top = expected_level(probs), probs.argmax(1) + 1
    out = {}
    for lang in LANGUAGES:
        mask = np.ones(len(pairs), bool) if lang == "all" else (pairs["language"] == lang).to_numpy()
        aucs = [exact_vs_irrelevant_auc(pairs["level"][m], expected[m])
                for m in (mask & (pairs["fold"] == f).to_numpy() for f in sorted(set(pairs["fold"])))]
        out[lang] = (float(np.nanmean(aucs)), float((top[mask] == pairs["level"].to_numpy()[mask]).mean()))
    return out


def ensembles(folder: Path, names: list[str], combos: list[list[str]] | None = None) -> list[dict]:
    """One row per run alone, then per combination (default: every one of two or more runs): ``runs`` and
    ``auc_<lang>``, ``acc_<lang>``."""
    pairs, probs = common_pairs(folder, names)
    combos = [[n] for n in names] + (combos or [list(c) for k in range(2, len(names) + 1)
                                                for c in itertools.combinations(names, k)])
    rows = []
    for combo in combos:
        got = score(pairs, np.mean([probs[n] for n in combo], axis=0))
        rows.append({"runs": "+".join(combo), **{f"auc_{lang}": a for lang, (a, _) in got.items()},
                     **{f"acc_{lang}": c for lang, (_, c) in got.items()}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("runs", nargs="+", help="two or more runs in the folder")
    ap.add_argument("--combo", action="append", help="only these averages, e.g. --combo a+b (repeatable)")
    args = ap.parse_args()
    combos = [c.split("+") for c in args.combo] if args.combo else None
    rows = ensembles(args.folder, args.runs, combos)
    print("fold-mean AUC exact vs irrelevant / pooled accuracy of the averaged probabilities, last epochs")
    print(f"{'runs':60}" + "".join(f" {'AUC ' + lang:>8}" for lang in LANGUAGES)
          + "".join(f" {'acc ' + lang:>8}" for lang in LANGUAGES))
    for r in rows:
        print(f"{r['runs']:60}" + "".join(f" {r['auc_' + lang]:8.3f}" for lang in LANGUAGES)
              + "".join(f" {r['acc_' + lang]:8.3f}" for lang in LANGUAGES))


if __name__ == "__main__":
    main()
