"""Pointwise evaluation: how well models grade single judged pairs (about one judged product per query).

A pointwise judgments file (``esci_multilingual``) cannot give a per-query nDCG, so each model is judged
on the pairs themselves, per language:

- **accuracy** and **macro-F1** of the predicted level (argmax of the level probabilities) against the
  judged level, for models with level probabilities (on E/S/C/I judgments mapped to 5/4/3/1, accuracy is
  KDD Cup 2022 task 2's micro-F1);
- **AUC** of the model's score separating exact (5) from irrelevant (1–2) pairs, for every model.

Uncertainty comes from a cluster bootstrap over queries (a query drawn k times counts its pairs k
times), 95% percentile intervals. Models are compared with the first on the same resamples (a paired
bootstrap test: p = 2 · (1 + min(#(Δ* ≤ 0), #(Δ* ≥ 0))) / (B + 1)), Holm-corrected by the caller. All statistics are
computed from per-pair weights, so one resample costs O(pairs) numpy work whatever the metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import metrics
from core.errors import InvalidInputError

N_BOOT = 1000


@dataclass(frozen=True)
class ModelOutput:
    """One model's output on the pairs, in pair order: ``scores`` (higher = more relevant) and, for
    models with level probabilities, the predicted ``levels`` (1–5)."""

    scores: np.ndarray
    levels: np.ndarray | None = None


def _weighted_accuracy(correct: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Accuracy under each row of weights ``w`` (resamples × pairs)."""
    return (w @ correct) / w.sum(1)


def _weighted_macro_f1(truth: np.ndarray, pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Macro-F1 over the five levels (absent levels count 0, as ``metrics.classification_scores``)."""
    out = np.empty(len(w))
    cell = (truth - 1) * 5 + (pred - 1)
    onehot = np.zeros((len(truth), 25))
    onehot[np.arange(len(truth)), cell] = 1.0
    for b, conf in enumerate((w @ onehot).reshape(len(w), 5, 5)):
        tp = np.diag(conf)
        denom = conf.sum(0) + conf.sum(1)
        out[b] = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0).mean()
    return out


def _weighted_auc(levels: np.ndarray, scores: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Exact-vs-irrelevant AUC under each row of weights (ties count half), by cumulative sums over the
    pairs sorted once by score."""
    keep = (levels == 5) | (levels <= 2)
    s, pos, w = scores[keep], levels[keep] == 5, w[:, keep]
    if pos.all() or not pos.any():
        return np.full(len(w), math.nan)
    order = np.argsort(s, kind="stable")
    s, pos, w = s[order], pos[order], w[:, order]
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    tie = np.repeat(np.arange(len(start)), counts)  # tie group of each sorted pair
    wneg = w * ~pos
    neg_in_group = np.add.reduceat(wneg, start, axis=1)
    neg_below = np.cumsum(neg_in_group, axis=1) - neg_in_group  # negatives strictly below each group
    credit = neg_below[:, tie] + 0.5 * neg_in_group[:, tie]
    wpos = w * pos
    n_pos, n_neg = wpos.sum(1), wneg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), (wpos * credit).sum(1) / (n_pos * n_neg), math.nan)


def _query_weights(query_ids: Sequence[str], n_boot: int, seed: int) -> np.ndarray:
    """Row 0: every pair once (the point estimate); rows 1…n_boot: a query bootstrap as pair weights."""
    codes, uniq = pd.factorize(pd.Series(list(query_ids)))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(uniq), np.full(len(uniq), 1 / len(uniq)), size=n_boot).astype(float)
    return np.vstack([np.ones(len(codes)), draws[:, codes]])


def _interval(values: np.ndarray) -> tuple[float, float]:
    v = values[np.isfinite(values)]
    if v.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(v, [0.025, 0.975])
    return float(low), float(high)


def _paired_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided paired bootstrap p-value of a = b from the resampled statistics (rows 1…)."""
    d = (a - b)[1:]
    d = d[np.isfinite(d)]
    if d.size == 0:
        return None
    if not np.any(d) and a[0] == b[0]:
        return 1.0
    tail = min(np.sum(d <= 0), np.sum(d >= 0))
    return float(min(1.0, 2 * (tail + 1) / (d.size + 1)))


def pointwise_rows(pairs: pd.DataFrame, outputs: Mapping[str, ModelOutput], *, by_language: bool = True,
                   n_boot: int = N_BOOT, seed: int = 0) -> list[dict]:
    """One row per model × language (``all`` first) with accuracy, macro-F1, AUC and their 95% CIs.

    Args:
        pairs: the judged pairs, columns query_id, language, level (1–5).
        outputs: model name -> ``ModelOutput`` in the order of ``pairs``; the first model is the reference
            of the paired tests.
        by_language: also one group per language.
        n_boot: bootstrap resamples over queries.
        seed: bootstrap seed (the same resamples serve every model, so the tests are paired).

    Returns:
        Rows with ``model``, ``language``, ``mode`` ("pointwise"), ``accuracy``, ``macro_f1``, ``auc`` and
        ``*_ci_low``/``*_ci_high`` for each, ``ci_low``/``ci_high`` (of accuracy, else of AUC),
        ``n_queries``, ``n_pairs``, ``p_value_vs_first`` (on accuracy when both models have levels, else
        on AUC), ``p_value_auc_vs_first``; ``p_holm``/``p_holm_auc`` are left None for the caller.
    """
    if not outputs:
        raise InvalidInputError("give at least one model")
    lang = pairs["language"].astype(str).to_numpy()
    groups = [("all", np.ones(len(pairs), bool))]
    if by_language:
        groups += [(g, lang == g) for g in sorted(set(lang))]
    names = list(outputs)
    rows = []
    for g_name, sel in groups:
        if not sel.any():
            continue
        truth = pairs["level"].to_numpy()[sel].astype(int)
        w = _query_weights(pairs["query_id"].to_numpy()[sel], n_boot, seed)
        stats = {}
        for m in names:
            out = outputs[m]
            st = {"auc": _weighted_auc(truth, np.asarray(out.scores, float)[sel], w)}
            if out.levels is not None:
                pred = np.asarray(out.levels)[sel].astype(int)
                st["accuracy"] = _weighted_accuracy((pred == truth).astype(float), w)
                st["macro_f1"] = _weighted_macro_f1(truth, pred, w)
            stats[m] = st
        first = stats[names[0]]
        for m in names:
            st = stats[m]
            row = {"model": m, "language": g_name, "mode": "pointwise",
                   "n_queries": int(pd.Series(pairs["query_id"].to_numpy()[sel]).nunique()), "n_pairs": int(sel.sum())}
            for key in ("accuracy", "macro_f1", "auc"):
                v = st.get(key)
                row[key] = None if v is None or not np.isfinite(v[0]) else float(v[0])
                row[f"{key}_ci_low"], row[f"{key}_ci_high"] = _interval(v) if v is not None else (None, None)
            head = "accuracy" if row["accuracy"] is not None else "auc"
            row["ci_low"], row["ci_high"] = row[f"{head}_ci_low"], row[f"{head}_ci_high"]
            row["p_value_vs_first"] = row["p_value_auc_vs_first"] = None
            if m != names[0]:
                row["p_value_auc_vs_first"] = _paired_p(st["auc"], first["auc"])
                both = "accuracy" in st and "accuracy" in first
                row["p_value_vs_first"] = (_paired_p(st["accuracy"], first["accuracy"]) if both
                                           else row["p_value_auc_vs_first"])
            row["p_holm"] = row["p_holm_auc"] = None
            rows.append(row)
    return rows


def holm_in_place(rows: list[dict]) -> None:
    """Fill ``p_holm`` and ``p_holm_auc``: Holm's correction over all comparisons of the report."""
    for raw, adj in (("p_value_vs_first", "p_holm"), ("p_value_auc_vs_first", "p_holm_auc")):
        tested = [i for i, r in enumerate(rows) if r.get(raw) is not None]
        for i, p in zip(tested, metrics.holm([rows[i][raw] for i in tested])):
            rows[i][adj] = p


def listwise_pairs(pairs: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the pairs whose query has ``metrics.LISTWISE_MIN`` or more judged products (columns
    query_id, product_id), where per-query nDCG means something; the others are pointwise pairs."""
    return (pairs.groupby("query_id")["product_id"].transform("size") >= metrics.LISTWISE_MIN).to_numpy()


def is_pointwise(query_ids: Sequence[str]) -> bool:
    """A judgments file is pointwise when its median query has fewer than ``metrics.LISTWISE_MIN`` judged
    products (``esci_multilingual``: one), so per-query nDCG would be meaningless."""
    counts = pd.Series(list(query_ids)).value_counts()
    return bool(len(counts)) and float(counts.median()) < metrics.LISTWISE_MIN
