"""The dashboard's ranking figures: nDCG per query, per-language summaries that refuse to overstate, "what
changed" between two models or, for one model, between the labels in force at two dates, and the models
against the raters' consensus on the same terms (no Streamlit here).

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
from core.workflows import analytics, query_scope

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


# ------------------------------------------------------------------------------------------ two label dates

def label_changes(before: pd.DataFrame, after: pd.DataFrame) -> dict:
    """What changed in the labels in force from ``before`` to ``after`` (two ``analytics.labels_frame``, e.g. at two
    dates): pairs ``added`` (labelled only after), ``changed`` (another level), ``removed`` (labelled only before,
    e.g. undone), and ``queries``, the set of query ids those pairs belong to."""
    keys = ["query_id", "product_id"]
    m = before[keys + ["level"]].merge(after[keys + ["level"]], on=keys, how="outer", suffixes=("_a", "_b"),
                                       indicator=True)
    added, removed = m["_merge"] == "right_only", m["_merge"] == "left_only"
    changed = (m["_merge"] == "both") & (m["level_a"] != m["level_b"])
    return {"added": int(added.sum()), "changed": int(changed.sum()), "removed": int(removed.sum()),
            "queries": set(m.loc[added | changed | removed, "query_id"])}


def compare_dates(before: pd.DataFrame, after: pd.DataFrame, model: str, *, url: str | None = None, k="20",
                  gains: str = "esci", min_n: int, seed: int = 0, live_scorers: dict | None = None,
                  artifacts_dir: str | Path | None = None) -> dict:
    """What changed for ``model`` between two label dates: its nDCG@k against the labels in force at the first
    date (``before``) and at the second (``after``; both ``analytics.labels_frame(url, as_of=...)``, the same
    selection of each), on the queries labelled at both dates, each query's judged products reranked as in
    ``per_query``. Per language (``all`` first), as ``compare``: the mean per-query difference after − before with
    its 95% bootstrap CI and the paired randomization test, Holm over the languages tested; languages under
    ``min_n`` common queries get no figures.

    Returns:
        ``{"table": compare's frame with the columns before and after (empty when no query is labelled at both
        dates or the model cannot be scored), "changes": label_changes(before, after) with ``n_queries`` (queries
        touched), "n_common": queries labelled at both dates, "common_changed": those of them whose labels changed,
        "only_before"/"only_after": queries labelled at one date only (left out), "coverage": {date: share of the
        pairs with a stored prediction}, "skipped": {model: reason}}``.
    """
    ks = metrics.parse_ks(k)[:1]
    label = "all" if ks[0] is None else str(ks[0])
    qa, qb = set(before["query_id"]), set(after["query_id"])
    common, changes = qa & qb, label_changes(before, after)
    out = {"table": pd.DataFrame(), "changes": {**changes, "n_queries": len(changes["queries"])},
           "n_common": len(common), "common_changed": len(common & changes["queries"]),
           "only_before": len(qa - qb), "only_after": len(qb - qa), "coverage": {}, "skipped": {}}
    if not common:
        return out
    rows = []
    for name, labels in (("before", before), ("after", after)):
        r = per_query(labels[labels["query_id"].isin(common)], [model], url=url, ks=ks, gains=(gains,),
                      live_scorers=live_scorers, artifacts_dir=artifacts_dir)
        if model not in r["models"]:
            return {**out, "skipped": r["skipped"]}
        rows.append(r["per_query"].assign(model=name))
        if model in r["coverage"]:
            out["coverage"][name] = r["coverage"][model]
    result = {"per_query": pd.concat(rows, ignore_index=True)}
    out["table"] = compare(result, "before", "after", gains=gains, k=label, min_n=min_n, seed=seed)
    return out


# ------------------------------------------------------------------------------------------ models vs raters

FIGURE_COLUMNS = ["ndcg", "ci_low", "ci_high", "accuracy", "within_one"]


def _stored_levels(model: str, truth: pd.DataFrame, url: str | None, artifacts_dir) -> pd.DataFrame:
    """``model``'s stored predictions (the table, else its Parquet files: ``analytics.stored_predictions``) on the
    pairs of ``truth``: query_pk, product_pk, expected, argmax."""
    from core.scale import PROB_COLS
    from core.text.queries import clean_query

    stored = analytics.stored_predictions(model, url, artifacts_dir)
    if stored.empty:
        return pd.DataFrame(columns=["query_pk", "product_pk", "expected", "argmax"])
    probs = stored[PROB_COLS].to_numpy(dtype=np.float64)
    pred = pd.DataFrame({"key": stored["query"].map(clean_query), "product_id": stored["product_id"].astype(str),
                         "expected": probs @ np.arange(1, 6), "argmax": probs.argmax(axis=1) + 1})
    pairs = pd.DataFrame({"query_pk": truth["query_pk"], "product_pk": truth["product_pk"],
                          "key": truth["query"].map(clean_query), "product_id": truth["product_id"].astype(str)})
    return pairs.merge(pred, on=["key", "product_id"])[["query_pk", "product_pk", "expected", "argmax"]]


def vs_raters(url: str | None, models: Sequence[str], *, min_n: int, languages: Sequence[str] = (),
              scope: str = "held out", k: int = 10, artifacts_dir: str | Path | None = None, seed: int = 0) -> dict:
    """Each model's stored predictions against the raters' consensus
    (``core.campaigns.consensus.models_vs_humans``; the table, else the Parquet files, as ``per_query`` reads them)
    on the dashboard's terms: the queries of ``languages`` (empty:
    all) with a raters' consensus, held-out queries only unless ``scope`` is ``all`` (``query_scope``, from the
    models' metadata), and no figure for a language (or ``all``) under ``min_n`` queries.

    Returns:
        ``{"table": models_vs_humans rows plus ``enough`` (False: ndcg, its CI, accuracy and within_one NaN),
        "classes": {"held out"/"dev"/"training": queries}, "skipped": {model: reason}, "empty": None, or why there
        is no table: ``no consensus`` (no rater labels in force), ``no queries`` (none in the selection),
        ``no predictions`` (no model picked has stored predictions on the rated pairs)}``.
    """
    from core.campaigns.consensus import labels_in_force, models_vs_humans
    from core.errors import NoPredictionsError

    out = {"table": pd.DataFrame(), "classes": {}, "skipped": {}, "empty": None}
    truth = labels_in_force(url, include_imports=False)
    if truth.empty:
        return {**out, "empty": "no consensus"}
    if languages:
        truth = truth[truth["language"].isin(list(languages))]
    have = set(analytics.models_with_predictions(url, artifacts_dir))
    out["skipped"] = {m: f"no stored predictions; run `relevance score {m} --judged --store`"
                      for m in models if m not in have}
    models = [m for m in models if m in have]
    shown = [query_scope.model_queries(m, artifacts_dir) for m in models]
    classes = query_scope.classify(truth["query_id"], shown)
    if scope != "all":
        truth = truth[truth["query_id"].map(classes) != "training"]
    kept = set(truth["query_id"])
    out["classes"] = pd.Series([classes[q] for q in kept], dtype=object).value_counts().to_dict()
    if truth.empty:
        return {**out, "empty": "no queries"}
    frames = []
    for m in models:
        try:
            preds = {m: _stored_levels(m, truth, url, artifacts_dir)}
            frames.append(models_vs_humans(url, [m], ks=(k,), seed=seed, truth=truth, predictions=preds))
        except NoPredictionsError as exc:
            out["skipped"][m] = str(exc)
    if not frames:
        return {**out, "empty": "no predictions"}
    df = pd.concat(frames, ignore_index=True)
    enough = df["n_queries"] >= min_n
    df[FIGURE_COLUMNS] = df[FIGURE_COLUMNS].astype("float64").where(enough, math.nan)
    out["table"] = df.assign(enough=enough)
    return out
