"""Metrics over plain data (no store, no models): ``ranking`` (gains, nDCG via ranx, accuracy, AUC),
``stats`` (bootstrap CIs, the paired randomization test, Holm), ``pointwise`` (metrics for one judged
product per query) and ``agreement`` (Krippendorff's alpha, kappa, the consensus rule).

``from core import metrics`` gives the ranking and statistics functions in one namespace.
"""

from core.metrics.ranking import (GAIN_SCHEMES, LEVELS, LISTWISE_MIN, classification_scores, exact_vs_irrelevant_auc,
                                  expected_level, gain, ndcg_per_query, parse_ks)
from core.metrics.stats import bootstrap_ci, holm, paired_p_value, summarize

__all__ = ["GAIN_SCHEMES", "LEVELS", "LISTWISE_MIN", "bootstrap_ci", "classification_scores", "exact_vs_irrelevant_auc",
           "expected_level", "gain", "holm", "ndcg_per_query", "paired_p_value", "parse_ks", "summarize"]
