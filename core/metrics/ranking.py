"""Ranking and classification metrics over plain data (DESIGN.md, "The 5-point scale").

nDCG is computed by ranx; accuracy and macro-F1 come from scikit-learn; the intervals and tests over
queries are in ``core.metrics.stats`` (``summarize`` is re-exported here). ranx is imported lazily because its
first use JIT-compiles with numba (about 40 s once per venv, then about 3 s per new process).

What ranx 0.3.21 does, and how this module copes:

- Judgments below relevance 1 are dropped before DCG, so relevance 0 is "no gain"; a query with
  no positive judgment gets nDCG 0 (IDCG 0 is replaced by 1). We leave such queries out instead:
  their nDCG is undefined, and zeros would drag every mean down.
- Relevance is cast to ``int`` (1.5 becomes 1), hence the integer encodings of the gain schemes.
- Tied run scores keep the dict's insertion order in short lists and come out in arbitrary order
  in long ones (numba's quicksort is not stable; seen at 100 items), so equal scores could give
  different nDCG. We break ties by product id, ascending, before ranx sees the run.
- ``evaluate`` refuses a run whose query set differs from the qrels', and ``Run`` fails when every
  result list is empty: queries absent from the run (or empty) score 0 here, not in ranx.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from core.errors import InvalidInputError
from core.scale import LEVELS

GAIN_SCHEMES = ("esci", "linear", "exp")

_GAINS = {
    "esci": {5: 1.0, 4: 0.1, 3: 0.01, 2: 0.0, 1: 0.0},
    "linear": {level: float(level - 1) for level in LEVELS},
    "exp": {level: float(2 ** (level - 1) - 1) for level in LEVELS},
}
# ranx metric and the integer relevance handed to ranx, per scheme. esci scales its gains by 100
# (nDCG is invariant to scaling all gains); ndcg_burges computes 2**rel - 1 itself.
_RANX = {
    "esci": ("ndcg", {5: 100, 4: 10, 3: 1, 2: 0, 1: 0}),
    "linear": ("ndcg", {level: level - 1 for level in LEVELS}),
    "exp": ("ndcg_burges", {level: level - 1 for level in LEVELS}),
}


def gain(level: int, scheme: str) -> float:
    r"""Gain of a 5-point level under a named scheme.

    $$
    g_{\text{esci}} = \{5: 1,\ 4: 0.1,\ 3: 0.01,\ 2: 0,\ 1: 0\},\qquad
    g_{\text{linear}}(l) = l - 1,\qquad g_{\text{exp}}(l) = 2^{l-1} - 1
    $$

    Args:
        level: a level of the 5-point scale, 1 (highly irrelevant) … 5 (highly relevant).
        scheme: one of ``GAIN_SCHEMES``.

    Returns:
        The gain. Raises ValueError for an unknown scheme or a level outside 1–5.
    """
    _check_scheme(scheme)
    return _GAINS[scheme][_check_level(level)]


def parse_ks(spec: str | Sequence | int | None) -> list[int | None]:
    """Parse nDCG cutoffs such as ``--k 20,all``.

    Args:
        spec: comma-separated text (``"10,20,all"``), a sequence of ints / ``"all"`` / ``None``,
            or a single int. ``all`` (or ``None``) means the whole judged list.

    Returns:
        The cutoffs in the given order, duplicates dropped; ``None`` stands for ``all``.
        Raises ValueError for an entry that is not a positive integer or ``all``.
    """
    if spec is None or isinstance(spec, numbers.Integral):
        parts = [spec]
    elif isinstance(spec, str):
        parts = spec.split(",")
    else:
        parts = list(spec)
    ks: list[int | None] = []
    for part in parts:
        k = _parse_k(part)
        if k not in ks:
            ks.append(k)
    if not ks:
        raise InvalidInputError("expected at least one cutoff k, e.g. '20,all'; got none")
    return ks


def ndcg_per_query(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
                   k: int | None, gains: str) -> dict[str, float]:
    r"""nDCG@k of each judged query, computed by ranx (Järvelin & Kekäläinen, 2002).

    $$
    \operatorname{DCG@k} = \sum_{i=1}^{\min(k, n)} \frac{g(l_i)}{\log_2(i + 1)},\qquad
    \operatorname{nDCG@k} = \frac{\operatorname{DCG@k}}{\operatorname{IDCG@k}}
    $$

    where $l_i$ is the judged level of the product at rank $i$ of the run (unjudged: gain 0),
    $g$ is the gain scheme (see ``gain``) and IDCG@k is the DCG@k of the judged products sorted
    by gain. ``k=None`` sums over the whole run (ESCI KDD Cup 2022 task 1 protocol with ``esci``).

    Args:
        qrels: query_id -> {product_id: level 1–5}.
        run: query_id -> {product_id: score}; higher ranks first, ties broken by product id.
        k: cutoff, a positive int, or ``None`` for the whole list.
        gains: one of ``GAIN_SCHEMES``.

    Returns:
        query_id -> nDCG in [0, 1], in qrels order. Queries whose ideal DCG is 0 (no judged
        product with a positive gain: e.g. only levels 1–2 under ``esci``) are left out; queries
        missing from the run, or with no scored product, score 0. Raises ValueError for an
        unknown scheme, a bad k, a level outside 1–5 or a NaN score.
    """
    _check_scheme(gains)
    k = _check_cutoff(k)
    metric, relevance = _RANX[gains]
    judged = {qid: _relevances(qid, docs, relevance) for qid, docs in qrels.items()}
    kept = [qid for qid, rels in judged.items() if any(r > 0 for r in rels.values())]
    scores = {qid: 0.0 for qid in kept}
    ranked = {qid: _break_ties(qid, run[qid]) for qid in kept if run.get(qid)}
    if ranked:
        scores.update(_ranx_ndcg({q: judged[q] for q in ranked}, ranked, metric, k))
    return scores


def classification_scores(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    r"""5-class accuracy and macro-F1 of predicted levels, by scikit-learn.

    $$
    \text{accuracy} = \frac1n \sum_i [\hat y_i = y_i],\qquad
    \text{macro-F1} = \frac15 \sum_{l=1}^{5} \frac{2 P_l R_l}{P_l + R_l}
    $$

    F1 is taken over all five levels (``labels=[1..5]``, ``zero_division=0``): a level absent
    from both y_true and y_pred counts as F1 = 0, so macro-F1 on a sample that covers few levels
    is low by construction.

    Args:
        y_true: gold levels 1–5.
        y_pred: predicted levels 1–5 (e.g. the argmax of a model's probabilities).

    Returns:
        ``{"accuracy": ..., "macro_f1": ...}``. Raises ValueError for different lengths, no
        values, or a level outside 1–5.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if len(y_true) != len(y_pred) or len(y_true) == 0:
        raise InvalidInputError(f"expected two equally long, non-empty level lists; got {len(y_true)} and {len(y_pred)}")
    truth = [_check_level(level) for level in y_true]
    pred = [_check_level(level) for level in y_pred]
    return {
        "accuracy": float(accuracy_score(truth, pred)),
        "macro_f1": float(f1_score(truth, pred, labels=list(LEVELS), average="macro", zero_division=0)),
    }


def expected_level(probs) -> np.ndarray:
    r"""Expected level $\sum_{l=1}^{5} l \cdot p_l$ of each row of level probabilities.

    Args:
        probs: array-like of shape (n, 5), probabilities of levels 1…5; rows sum to 1.

    Returns:
        Shape (n,), values in [1, 5]. Raises ValueError for another shape or non-probabilities.
    """
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(LEVELS):
        raise InvalidInputError(f"probs must have shape (n, 5), one column per level 1..5; got shape {p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
        raise InvalidInputError("probs rows must be probabilities (>= 0, summing to 1); apply softmax to logits first")
    return p @ np.asarray(LEVELS, dtype=float)


# Helpers ======================================================================


def _check_scheme(scheme: str) -> None:
    if scheme not in GAIN_SCHEMES:
        raise InvalidInputError(f"unknown gain scheme {scheme!r}; supported: {', '.join(GAIN_SCHEMES)}")


def _check_level(level) -> int:
    if isinstance(level, bool) or level not in LEVELS:
        raise InvalidInputError(f"expected a level of the 5-point scale (1..5), got {level!r}; map grades first (core.scale)")
    return int(level)


def _parse_k(part) -> int | None:
    if part is None:
        return None
    k = 0
    if isinstance(part, str):
        text = part.strip().lower()
        if text == "all":
            return None
        if text.isascii() and text.isdigit():
            k = int(text)
    elif isinstance(part, numbers.Integral) and not isinstance(part, bool):
        k = int(part)
    if k < 1:
        raise InvalidInputError(f"each k must be a positive integer or 'all' (the whole judged list), e.g. '20,all'; "
                                f"got {str(part)[:80]!r}")
    if k > MAX_K:  # ranx's kernels take a 64-bit int; no judged list is this long
        raise InvalidInputError(f"k={str(part)[:80]} is larger than any judged list (at most {MAX_K:,}); use 'all' "
                                f"for the whole list")
    return k


MAX_K = 1_000_000


def _check_cutoff(k) -> int | None:
    if k is None or (isinstance(k, numbers.Integral) and not isinstance(k, bool) and k >= 1):
        return None if k is None else int(k)
    raise InvalidInputError(f"k must be a positive integer or None (the whole judged list); got {k!r}; see parse_ks")


def _relevances(qid, docs: Mapping, relevance: Mapping[int, int]) -> dict[str, int]:
    try:
        return {str(pid): relevance[_check_level(level)] for pid, level in docs.items()}
    except ValueError as exc:
        raise InvalidInputError(f"query {qid!r}: {exc}") from None


def _break_ties(qid, scores: Mapping) -> dict[str, float]:
    """Replace scores by n, n-1, …, 1 in (score desc, product id asc) order: same ranking, no ties."""
    items = [(str(pid), float(score)) for pid, score in scores.items()]
    nan_ids = [pid for pid, score in items if math.isnan(score)]
    if nan_ids:
        raise InvalidInputError(f"query {qid!r}: expected numeric scores, got NaN for products {nan_ids[:5]}; fix the scorer")
    items.sort(key=lambda item: (-item[1], item[0]))
    return {pid: float(len(items) - rank) for rank, (pid, _) in enumerate(items)}


def _ranx_ndcg(qrels: dict, run: dict, metric: str, k: int | None) -> dict[str, float]:
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, Run, evaluate

    ranx_run = Run({str(q): docs for q, docs in run.items()})
    ranx_qrels = Qrels({str(q): docs for q, docs in qrels.items()})
    name = metric if k is None else f"{metric}@{k}"
    # evaluate(..., "ndcg@k", return_mean=False) raises KeyError('ndcg') in ranx 0.3.21 (it returns
    # by the name without "@k"); asking for the metric twice returns the dict of all metrics.
    with warnings.catch_warnings():  # ranx's kernels warn about a uint64 cast while compiling
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        values = evaluate(ranx_qrels, ranx_run, [name, name], return_mean=False, save_results_in_run=False)[name]
    by_id = dict(zip(ranx_run.get_query_ids(), values))
    return {q: float(by_id[str(q)]) for q in run}


LISTWISE_MIN = 3  # judged products a query needs for nDCG to mean something (fewer: a pointwise query)


def exact_vs_irrelevant_auc(levels: Sequence[int], scores: Sequence[float]) -> float:
    r"""ROC-AUC of ``scores`` separating exact pairs (level 5) from irrelevant ones (levels 1–2), by
    scikit-learn; substitutes and complements (4, 3) are left out. It is the probability that a random
    exact pair outscores a random irrelevant one (ties count half):
    $$
    \mathrm{AUC} = \frac{1}{|E|\,|I|} \sum_{e \in E} \sum_{i \in I} \big([s_e > s_i] + \tfrac12 [s_e = s_i]\big)
    $$

    Returns:
        The AUC, or NaN when either side has no pair.
    """
    from sklearn.metrics import roc_auc_score

    lv, s = np.asarray(levels), np.asarray(scores, dtype=float)
    keep = (lv == 5) | (lv <= 2)
    y = lv[keep] == 5
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, s[keep]))


# numpy twin of ndcg_per_query ===============================================
# ranx JIT-compiles with numba: about 6 s in every new process (2.3 s import, 3.6 s first call, measured on
# 2 cores), more than the dashboard's whole budget. ndcg_per_query_np gives the same values (the tests check
# them equal on random runs with ties, every gain scheme and cut-off); ndcg_per_query stays the reference
# and what `relevance evaluate` reports.


def ndcg_per_query_np(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
                      k: int | None, gains: str) -> dict[str, float]:
    r"""nDCG@k of each judged query, as ``core.metrics.ranking.ndcg_per_query`` defines it.

    $$
    \operatorname{DCG@k} = \sum_{i=1}^{\min(k, n)} \frac{g(l_i)}{\log_2(i + 1)},\qquad
    \operatorname{nDCG@k} = \frac{\operatorname{DCG@k}}{\operatorname{IDCG@k}}
    $$
    with ``exp`` gains as $2^{l-1} - 1$ (ranx's ``ndcg_burges``). Ties in the run are broken by product id;
    queries without a positive gain are left out; queries missing from the run score 0.

    Returns:
        query_id -> nDCG in [0, 1], in qrels order.
    """
    _check_scheme(gains)
    k = _check_cutoff(k)
    metric, relevance = _RANX[gains]
    out: dict[str, float] = {}
    for qid, docs in qrels.items():
        rels = _relevances(qid, docs, relevance)
        if not any(r > 0 for r in rels.values()):
            continue
        scores = run.get(qid)
        if not scores:
            out[qid] = 0.0
            continue
        ranked = sorted(_break_ties(qid, scores).items(), key=lambda item: -item[1])
        got = np.array([rels.get(pid, 0) for pid, _ in ranked], dtype=float)
        ideal = np.sort(np.array([r for r in rels.values() if r > 0], dtype=float))[::-1]
        out[qid] = _dcg(got, k, metric) / _dcg(ideal, k, metric)
    return out


def _dcg(rel: np.ndarray, k: int | None, metric: str) -> float:
    rel = rel[:k] if k is not None else rel
    gain = np.exp2(rel) - 1 if metric == "ndcg_burges" else rel
    return float(np.sum(gain / np.log2(np.arange(2, rel.size + 2)))) if rel.size else math.nan
