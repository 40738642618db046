"""Cross-validation runs as ``relevance train teacher --cv`` writes them (``<folder>/<run>.json`` and ``.parquet``),
and the per-fold scores the teacher card's tables and learning curves are read from (``cv_report``, ``cv_curve``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

LANGS = ("all", "en", "es", "ja")


def load_runs(folder: Path) -> dict[str, dict]:
    """Cross-validation runs by name (every ``*.json`` with per-fold histories)."""
    runs = {}
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text())
        if "folds" in doc and doc.get("rows"):
            runs[doc["name"]] = doc
    return runs


def rows_by_model(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["model"], r["language"]): r for r in doc["rows"]}


def epoch_number(model: str) -> int:
    """The epoch of a run's row name ("epoch 3" → 3)."""
    return int(model.split()[-1])


def last_epoch(doc: dict) -> str:
    return max((r["model"] for r in doc["rows"]), key=epoch_number)


def run_family(name: str) -> tuple[str, str]:
    """(``teacher`` or ``prior``, the run's setting: ``all``, ``en-only``, ``lc<N>``) from a run name."""
    return ("prior", name[len("prior-"):]) if name.startswith("prior-") else ("teacher", name)


def folds_text(doc: dict, folds: list[dict] | None = None) -> str:
    """"one training", "4 of 4", or the folds by number when a run has some of them ("fold 0 of 4")."""
    if doc.get("unseen"):
        return "one training"
    folds = doc["folds"] if folds is None else folds
    if len(folds) == doc["n_folds"]:
        return f"{len(folds)} of {doc['n_folds']}"
    return f"fold{'s' if len(folds) > 1 else ''} {', '.join(str(f['fold']) for f in folds)} of {doc['n_folds']}"


def fold_scores(folder: Path, runs: dict[str, dict]) -> dict[tuple[str, str, int, int], tuple[float, int, int]]:
    """(AUC exact vs irrelevant, pairs right, pairs) per (run, language or ``all``, test fold, epoch) at epoch 0 (the
    prior alone) and the run's last epoch, the folds being those of the all-language runs (``prior-all``, else
    ``all``, else any cross-validated run): a single-training run (``--unseen``) is scored on the same subsets.
    Runs are compared on the mean of the folds' AUCs, not on AUC pooled over the folds, which mixes the scores
    of four models (four calibrations) and so lowers the AUC of a cross-validated run against a single model."""
    import pandas as pd

    from core.metrics import exact_vs_irrelevant_auc, expected_level
    from core.scale import PROB_COLS

    ref = next((n for n in ("prior-all", "all") if n in runs), None) or next(
        (n for n, doc in runs.items() if not doc.get("unseen")), None)  # else any cross-validated run's folds
    if ref is None:
        return {}
    key = ["query_id", "product_id"]
    fold_of = pd.read_parquet(folder / f"{ref}.parquet", columns=key + ["fold"]).drop_duplicates(key)
    out = {}
    for name in runs:
        preds = pd.read_parquet(folder / f"{name}.parquet")
        preds = preds[preds["epoch"].isin({0, preds["epoch"].max()})].drop(columns="fold").merge(fold_of, on=key)
        preds = pd.concat([preds, preds.assign(language="all")], ignore_index=True)
        for (lang, fold, epoch), part in preds.groupby(["language", "fold", "epoch"]):
            probs, level = part[PROB_COLS].to_numpy(), part["level"].to_numpy()
            out[name, lang, int(fold), int(epoch)] = (exact_vs_irrelevant_auc(level, expected_level(probs)),
                                                      int((probs.argmax(1) + 1 == level).sum()), len(part))
    return out


def over_folds(scores: dict, name: str, lang: str, epoch: int, folds: set[int] | None = None
                ) -> tuple[float, float] | None:
    """(mean AUC over the folds, accuracy pooled over them) of run ``name``, or None without a fold."""
    got = [v for (n, la, f, e), v in scores.items() if n == name and la == lang and e == epoch
           and (folds is None or f in folds)]
    aucs = [a for a, _, _ in got if not math.isnan(a)]
    if not got:
        return None
    return (sum(aucs) / len(aucs) if aucs else math.nan), sum(c for _, c, _ in got) / sum(n for _, _, n in got)


def mean_auc(scores: dict, name: str, lang: str, epoch: int, folds: set[int] | None = None) -> float | None:
    got = over_folds(scores, name, lang, epoch, folds)
    return None if got is None or math.isnan(got[0]) else got[0]


def last_epoch_number(doc: dict) -> int:
    return epoch_number(last_epoch(doc))


def same_recipe(a: dict, b: dict) -> bool:
    """Whether two bi-encoder runs are one recipe: their configs (``biencoder`` entries) agree on every key both
    have (older runs lack the keys added since), and both or neither fine-tuned on the listwise queries too
    (``encoder_listwise``, absent in older runs: neither)."""
    ca, cb = a["biencoder"], b["biencoder"]
    return (all(ca[k] == v for k, v in cb.items() if k in ca)
            and bool(a.get("encoder_listwise")) == bool(b.get("encoder_listwise")))
