"""Shared by the benchmarks that try columns on the teacher's feature prior under its cross-validation folds
(``prior_mismatch``, ``late_interaction``, ``product_fields``): a model's accuracy and AUC over the test folds."""

from __future__ import annotations

import numpy as np

from core.metrics import exact_vs_irrelevant_auc


def accuracy_and_auc(folds: list, key: str, language: str = "all") -> tuple[float, float]:
    """(accuracy pooled over the test folds, mean of the folds' AUCs exact vs irrelevant) of the level
    probabilities in column ``key`` of each fold's test pairs (``folds``: DataFrames with ``level`` and
    ``language``), on one ``language`` or ``all``."""
    hits, aucs = [], []
    for t in folds:
        t = t if language == "all" else t[t["language"] == language]
        probs = np.stack(t[key].to_numpy())
        hits += list(probs.argmax(1) + 1 == t["level"].to_numpy())
        aucs.append(exact_vs_irrelevant_auc(t["level"].to_numpy(), probs @ np.arange(1, 6)))
    return float(np.mean(hits)), float(np.nanmean(aucs))
