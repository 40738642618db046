"""The dashboard's ranking figures: nDCG per query, per-language summaries that refuse to overstate, and
"what changed" between two models (no Streamlit here).

Same protocol as ``relevance evaluate`` (``core.workflows.evaluate``: each query's judged products reranked by
each model, stored predictions replayed through ``core.workflows.analytics.StoredPredictionScorer``), with
nDCG from ``core.metrics.ranking.ndcg_per_query_np`` (ranx's values without its ~6 s numba start) and the
intervals and tests of ``core.metrics.stats``. A language with fewer queries than ``min_queries``
(setting ``min_queries_for_ci``) gets no figure and no interval: a bootstrap over one query is a zero-width
interval that says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from core import config, metrics
from core.metrics.ranking import ndcg_per_query_np
from core.workflows import analytics

PER_QUERY_COLUMNS = ["model", "query_id", "language", "gains", "k", "ndcg"]


def min_queries() -> int:
    """The setting ``min_queries_for_ci`` as a positive int."""
    from core.errors import ConfigError

    raw = config.get("min_queries_for_ci")
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ConfigError(f"RELEVANCE_MIN_QUERIES_FOR_CI must be a positive integer; got {raw!r}")
    return n


def scorers_for(url: str | None, models: Sequence[str], live_scorers: dict | None = None,
                artifacts_dir: str | Path | None = None) -> tuple[dict, list[str], dict[str, str]]:
    """(scorers by name, models usable in order, skipped models with the reason), as ``evaluate_store`` picks."""
    have = set(analytics.models_with_predictions(url, artifacts_dir))
    scorers, use, skipped = dict(live_scorers or {}), [], {}
    for m in models:
        if m in have:
            scorers[m] = analytics.StoredPredictionScorer(m, analytics.stored_predictions(m, url, artifacts_dir))
        elif m not in scorers and m not in ("bm25", "random"):
            skipped[m] = f"no stored predictions; run `relevance score {m} --judged --store`"
            continue
        use.append(m)
    return scorers, use, skipped


def per_query(labels: pd.DataFrame, models: Sequence[str], *, url: str | None = None, ks: Sequence[int | None] = (20,),
              gains: Sequence[str] = ("esci", "linear"), live_scorers: dict | None = None,
              artifacts_dir: str | Path | None = None) -> dict:
    """nDCG of every labelled query for every model (listwise labels: ``analytics.split_modes``).

    Returns:
        ``{"per_query": DataFrame(PER_QUERY_COLUMNS), "accuracy": DataFrame(model, language, accuracy),
        "pairs": {language or "all": n pairs}, "coverage": {model: share}, "skipped": {model: reason},
        "models": [models scored]}``.
    """
    from core.workflows.evaluate import run_models

    empty = {"per_query": pd.DataFrame(columns=PER_QUERY_COLUMNS), "accuracy": pd.DataFrame(
        columns=["model", "language", "accuracy"]), "pairs": {}, "coverage": {}, "skipped": {}, "models": []}
    judged = analytics.store_judged(url, labels) if not labels.empty else None
    scorers, use, skipped = scorers_for(url, models, live_scorers, artifacts_dir)
    if judged is None or not use:
        return {**empty, "skipped": skipped}
    runs, preds = run_models(judged, use, url, progress=False, scorers=scorers)
    qrels, qlang = judged.qrels(), dict(zip(judged.queries["query_id"], judged.queries["language"]))
    rows, acc = [], []
    for m in use:
        for scheme in gains:
            for k in ks:
                for q, v in ndcg_per_query_np(qrels, runs[m], k, scheme).items():
                    rows.append((m, q, qlang[q], scheme, "all" if k is None else str(k), v))
        if preds[m] is not None:
            hit = (preds[m] == judged.pairs["level"]).astype(float)
            acc.append((m, "all", float(hit.mean())))
            acc += [(m, lang, float(h.mean())) for lang, h in hit.groupby(judged.pairs["language"])]
    pairs = {"all": len(judged.pairs), **judged.pairs.groupby("language").size().astype(int).to_dict()}
    coverage = {m: s.coverage for m, s in scorers.items() if isinstance(s, analytics.StoredPredictionScorer)}
    return {"per_query": pd.DataFrame(rows, columns=PER_QUERY_COLUMNS),
            "accuracy": pd.DataFrame(acc, columns=["model", "language", "accuracy"]), "pairs": pairs,
            "coverage": coverage, "skipped": skipped, "models": use}


def _groups(pq: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("all", pq)] + [(lang, g) for lang, g in pq.groupby("language", sort=True)]


def summary(result: dict, min_n: int, seed: int = 0) -> pd.DataFrame:
    """nDCG per model × language (``all`` first) × gains × k with 95% bootstrap CIs, accuracy and the paired
    randomization test against the first model (Holm over the rows tested).

    Rows with fewer than ``min_n`` queries keep their n but no figure: ``enough`` False, ndcg/CI/p NaN.
    """
    pq, models = result["per_query"], result["models"]
    if pq.empty:
        return pd.DataFrame()
    acc = {(r.model, r.language): r.accuracy for r in result["accuracy"].itertuples()}
    rows = []
    for lang, g in _groups(pq):
        for (scheme, k), part in g.groupby(["gains", "k"], sort=False):
            by_model = {m: dict(zip(p["query_id"], p["ndcg"])) for m, p in part.groupby("model")}
            first = by_model.get(models[0], {})
            for m in models:
                values = by_model.get(m, {})
                enough = len(values) >= min_n
                s = metrics.summarize(values, seed=seed) if enough else {"mean": math.nan, "ci_low": math.nan,
                                                                          "ci_high": math.nan}
                p = math.nan
                common = sorted(set(first) & set(values))
                if m != models[0] and enough and len(common) >= min_n:
                    p = metrics.paired_p_value([first[q] for q in common], [values[q] for q in common], seed=seed)
                rows.append({"model": m, "language": lang, "gains": scheme, "k": k, "enough": enough,
                             "ndcg": s["mean"], "ci_low": s["ci_low"], "ci_high": s["ci_high"],
                             "accuracy": acc.get((m, lang), math.nan), "n_queries": len(values),
                             "n_pairs": result["pairs"].get(lang, 0), "p_vs_first": p})
    df = pd.DataFrame(rows)
    df["p_holm"] = math.nan
    tested = df["p_vs_first"].notna()
    if tested.any():
        df.loc[tested, "p_holm"] = metrics.holm(df.loc[tested, "p_vs_first"].tolist())
    return df


def compare(result: dict, a: str, b: str, *, gains: str, k: str, min_n: int, seed: int = 0) -> pd.DataFrame:
    """What changed from model ``a`` to model ``b``: per language (``all`` first), mean nDCG of each on their
    common queries, the mean per-query difference b − a with its 95% bootstrap CI, and the paired
    randomization test (Holm over the languages tested). Languages under ``min_n`` common queries: no figures.
    """
    pq = result["per_query"]
    pq = pq[(pq["gains"] == gains) & (pq["k"] == k) & pq["model"].isin([a, b])]
    rows = []
    for lang, g in _groups(pq):
        wide = g.pivot_table(index="query_id", columns="model", values="ndcg").dropna()
        n = len(wide) if {a, b} <= set(wide.columns) else 0
        row = {"language": lang, "n_queries": n, "enough": n >= min_n, a: math.nan, b: math.nan, "delta": math.nan,
               "ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
        if n >= min_n:
            d = (wide[b] - wide[a]).to_numpy()
            low, high = metrics.bootstrap_ci(d, seed=seed)
            row.update({a: float(wide[a].mean()), b: float(wide[b].mean()), "delta": float(np.mean(d)),
                        "ci_low": low, "ci_high": high,
                        "p_value": metrics.paired_p_value(wide[a].to_numpy(), wide[b].to_numpy(), seed=seed)})
        rows.append(row)
    df = pd.DataFrame(rows)
    df["p_holm"] = math.nan
    if not df.empty and df["p_value"].notna().any():
        tested = df["p_value"].notna()
        df.loc[tested, "p_holm"] = metrics.holm(df.loc[tested, "p_value"].tolist())
    return df
