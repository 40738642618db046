r"""Consensus of the raters' labels, the training labels in force, and how models fare against humans.

Per pair, the consensus level is the lower median of its raters' levels (``method="median"``), or the
lower *weighted* median with each rater weighted by their reliability (``method="weighted"``: the
rater's agreement with the others' consensus, see ``core.metrics.agreement.rater_report``; 1 when unknown,
at least 0.05):

$$
\hat l = \min\Big\{ l : \sum_{r:\, l_r \le l} w_r \ \ge\ \tfrac12 \sum_r w_r \Big\}
$$

Raters flagged by ``core.metrics.agreement`` (gold accuracy, agreement with consensus or level distribution
under the thresholds) are left out. Ratings made on gold tasks measure raters; they do not vote.

``training_labels`` gives the trainers one row per pair: a researcher's decision (source ``adjudicated``,
``core.campaigns.adjudication``) first, else a trusted ``gold`` label, else the raters' consensus, else the
imported labels' lower median (sources ``import:<name>``). A pair with an open flag
(``core.campaigns.flags``) has no raters' consensus until the flag is resolved.

``as_of`` (a timezone-aware datetime; None: now) gives the labels in force at that time: only labels, flags,
flag resolutions and researchers' decisions made at or before it count, so a label superseded by one made later
is still in force then, and an import's labels count from the import on (``core.store.labels.current_labels``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.campaigns.flags import drop_flagged_pairs
from core.errors import InvalidInputError
from core.metrics import agreement as agr
from core.safe_csv import to_csv
from core.store.labels import check_as_of, current_labels
from core.store.session import session_scope
from db.models import Comparison, Label, Prediction, Product, Query, Task

TRAINING_COLUMNS = ["query_id", "query", "language", "product_id", "level", "n_raters", "source", "agreement"]
EXPORT_COLUMNS = ["query_id", "query", "language", "product_id", "level", "n_raters", "agreement", "source"]
METHODS = ("median", "weighted")
MIN_WEIGHT = 0.05


def consensus(ratings: pd.DataFrame, weights: dict | None = None) -> pd.DataFrame:
    """Consensus level per item: columns item, level, n_raters, agreement (share of ratings equal to level).

    Args:
        ratings: columns item, rater, level.
        weights: rater -> weight (> 0); None weighs every rater 1 (the plain lower median).
    """
    if ratings.empty:
        return pd.DataFrame(columns=["item", "level", "n_raters", "agreement"])
    df = ratings[["item", "rater", "level"]].copy()
    df["w"] = 1.0 if weights is None else df["rater"].map(weights).fillna(1.0).clip(lower=MIN_WEIGHT)
    df = df.sort_values(["item", "level"], kind="stable")
    by = df.groupby("item", sort=False)
    df["cum"], df["total"] = by["w"].cumsum(), by["w"].transform("sum")
    level = df[df["cum"] >= df["total"] / 2 - 1e-9].groupby("item", sort=False)["level"].first()
    out = by.agg(n_raters=("rater", "size")).join(level.rename("level"))
    df["hit"] = df["level"].to_numpy() == out.loc[df["item"], "level"].to_numpy()
    out["agreement"] = df.groupby("item", sort=False)["hit"].mean()
    return out.reset_index()[["item", "level", "n_raters", "agreement"]].astype({"level": "int64", "n_raters": "int64"})


# ------------------------------------------------------------------------------------------ the store

def store_ratings(s: Session, campaign: str | int | None = None, *, as_of: datetime | None = None) -> pd.DataFrame:
    """Campaign labels in force (source ``human``), one per (pair, rater): the latest (made at or before ``as_of``,
    timezone-aware, when given).

    Columns: item, query_pk, product_pk, rater, level, seconds, task_id, is_gold, gold_level.
    """
    stmt = (select(Label.id, Label.query_pk, Label.product_pk, Label.rater, Label.level, Label.seconds_spent,
                   Label.task_id, Label.supersedes_id, Task.is_gold, Task.gold_level, Task.campaign_id)
            .join(Task, Task.id == Label.task_id, isouter=True).where(Label.source == "human"))
    if as_of is not None:
        stmt = stmt.where(Label.created_at <= check_as_of(as_of))
    cols = ["id", "query_pk", "product_pk", "rater", "level", "seconds", "task_id", "supersedes_id", "is_gold",
            "gold_level", "campaign_id"]
    df = pd.DataFrame(s.execute(stmt).all(), columns=cols)
    df = df[~df["id"].isin(set(df["supersedes_id"].dropna().astype(int))) & df["level"].notna()]
    if campaign is not None:
        from core.campaigns.admin import campaign_row
        df = df[df["campaign_id"] == campaign_row(s, campaign).id]
    df = df.sort_values("id").drop_duplicates(["query_pk", "product_pk", "rater"], keep="last")
    df["item"] = df["query_pk"].astype(str) + ":" + df["product_pk"].astype(str)
    df["is_gold"] = df["is_gold"].fillna(False).astype(bool)
    df["gold_level"] = df["gold_level"].where(df["is_gold"])
    return df.drop(columns=["id", "supersedes_id", "campaign_id"]).astype({"level": "int64"}).reset_index(drop=True)


def store_agreement(url: str | None = None, campaign: str | int | None = None, *, min_shared: int = 5,
                    thresholds: agr.Thresholds = agr.Thresholds()) -> agr.AgreementReport:
    """``core.metrics.agreement.agreement`` over the campaign labels in the store (all campaigns by default)."""
    with session_scope(url) as s:
        ratings = store_ratings(s, campaign)
    if ratings.empty:
        raise InvalidInputError(f"no rater labels in the store{f' for campaign {campaign!r}' if campaign else ''}; "
                         f"rate some tasks first, or pass --labels FILE")
    return agr.agreement(ratings, min_shared=min_shared, thresholds=thresholds)


def _pair_info(s: Session, frame: pd.DataFrame) -> pd.DataFrame:
    q = pd.DataFrame(s.execute(select(Query.id, Query.query_id, Query.text, Query.language)).all(),
                     columns=["query_pk", "query_id", "query", "language"])
    p = pd.DataFrame(s.execute(select(Product.id, Product.product_id)).all(), columns=["product_pk", "product_id"])
    return frame.merge(q, on="query_pk").merge(p, on="product_pk")


def _consensus_pairs(ratings: pd.DataFrame, weights: dict | None, source: str | None = None) -> pd.DataFrame:
    if ratings.empty:
        return pd.DataFrame(columns=["query_pk", "product_pk", "level", "n_raters", "agreement", "source"])
    ratings = ratings.assign(item=ratings["query_pk"].astype(str) + ":" + ratings["product_pk"].astype(str),
                             rater=ratings["rater"].astype(str) + "\x1f" + ratings.get("source", ""))
    out = consensus(ratings, weights).merge(ratings.drop_duplicates("item")[["item", "query_pk", "product_pk"]],
                                            on="item")
    if source is None:
        src = ratings.groupby("item")["source"].agg(lambda x: ",".join(sorted(set(x))))
        out["source"] = out["item"].map(src)
    else:
        out["source"] = source
    return out.drop(columns="item")


ADJUDICATED = "adjudicated"  # the source of a researcher's decision on a pair (core.campaigns.adjudication)


def adjudicated_pairs(s: Session, ratings: pd.DataFrame | None = None, *,
                      as_of: datetime | None = None) -> pd.DataFrame:
    """The researchers' decisions in force (``core.campaigns.adjudication``), one per pair (the latest): they come
    before every other label of the pair. With ``ratings`` (one campaign's), only the pairs those ratings cover;
    with ``as_of`` (timezone-aware), the decisions in force at that time."""
    decided = current_labels(s, source=ADJUDICATED, as_of=as_of).sort_values("id")
    decided = decided.drop_duplicates(["query_pk", "product_pk"], keep="last")
    if ratings is not None:
        decided = decided.merge(ratings[["query_pk", "product_pk"]].drop_duplicates(), on=["query_pk", "product_pk"])
    return _consensus_pairs(decided[["query_pk", "product_pk", "rater", "level"]], None, ADJUDICATED)


def labels_in_force(url: str | None = None, include_imports: bool = True, *, campaign: str | int | None = None,
                    method: str = "median", exclude_flagged: bool = True,
                    thresholds: agr.Thresholds = agr.Thresholds(), as_of: datetime | None = None) -> pd.DataFrame:
    """``training_labels`` with the store's keys query_pk and product_pk kept (in force at ``as_of``, see the
    module's docstring; None: now)."""
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    as_of = check_as_of(as_of)
    with session_scope(url) as s:
        ratings = store_ratings(s, campaign, as_of=as_of)
        imported = current_labels(s, as_of=as_of) if include_imports else None
        frames = [adjudicated_pairs(s, ratings if campaign is not None else None, as_of=as_of)]
        if imported is not None:
            gold = imported[imported["source"] == "gold"]
            frames.append(_consensus_pairs(gold, None, "gold"))
        weights, flagged = None, set()
        if not ratings.empty and (exclude_flagged or method == "weighted"):
            report = agr.rater_report(ratings, agr.LEVELS, thresholds)
            flagged = set(report.loc[report["flagged"], "rater"]) if exclude_flagged else set()
            if method == "weighted":
                weights = {r + "\x1f": (1.0 if math.isnan(w) else w)
                           for r, w in zip(report["rater"], report["consensus_agreement"])}
        voters = ratings[~ratings["is_gold"] & ~ratings["rater"].isin(flagged)]
        voters = drop_flagged_pairs(s, voters, as_of=as_of)  # a pair with an open flag does not vote until it is resolved
        frames.append(_consensus_pairs(voters[["query_pk", "product_pk", "rater", "level"]], weights, "human"))
        if imported is not None:
            frames.append(_consensus_pairs(imported[imported["source"].str.startswith("import:")], None))
        frames = [f for f in frames if not f.empty]
        if not frames:
            return pd.DataFrame(columns=["query_pk", "product_pk"] + TRAINING_COLUMNS)
        pairs = pd.concat(frames, ignore_index=True).drop_duplicates(["query_pk", "product_pk"], keep="first")
        out = _pair_info(s, pairs)
    out = out.astype({"level": "int64", "n_raters": "int64", "agreement": "float64"})
    return out[["query_pk", "product_pk"] + TRAINING_COLUMNS].sort_values(["query_id", "product_id"],
                                                                         ignore_index=True)


def training_labels(url: str | None = None, include_imports: bool = True, **kwargs) -> pd.DataFrame:
    """The human labels in force, one row per pair, for the teacher and student trainers.

    Args:
        url: the store (default: ``RELEVANCE_DB_URL`` or the SQLite file).
        include_imports: also labels imported from files (``import:<name>``) and trusted ``gold`` labels;
            False gives the raters' consensus (and researchers' decisions) only.
        **kwargs: ``campaign`` (one campaign's raters only), ``method`` (``median`` or ``weighted``),
            ``exclude_flagged`` (default True), ``thresholds`` (``core.metrics.agreement.Thresholds``), ``as_of``
            (a timezone-aware datetime: the labels in force at that time; default now).

    Returns:
        Columns query_id, query, language, product_id, level (int 1–5), n_raters, source (``adjudicated``,
        ``gold``, ``human`` or the import sources, comma-joined), agreement (share of the pair's ratings equal to
        its level). Precedence per pair: a researcher's decision (``adjudicated``), gold, then the raters'
        consensus, then imports.
    """
    return labels_in_force(url, include_imports, **kwargs).drop(columns=["query_pk", "product_pk"])


def export_labels(out: str | Path, url: str | None = None, **kwargs) -> int:
    """Write ``training_labels`` (``EXPORT_COLUMNS``) to ``.parquet`` or ``.csv``; returns the number of rows."""
    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InvalidInputError(f"--out must end in .parquet or .csv; got {out.name!r}")
    df = training_labels(url, **kwargs)[EXPORT_COLUMNS]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".parquet":
        df.to_parquet(out, index=False)
    else:
        to_csv(df, out)  # formula-safe: text from import files opens as text in a spreadsheet
    return len(df)


# ------------------------------------------------------------------------------------------ models vs humans

def models_vs_humans(url: str | None = None, models: Sequence[str] = ("teacher", "student"), *, ks=(10,),
                     gains: Sequence[str] = ("esci", "linear"), campaign: str | int | None = None,
                     seed: int = 0, truth: pd.DataFrame | None = None,
                     predictions: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Each model's stored predictions against the raters' consensus, per language and overall.

    Rows (tidy, like ``relevance evaluate --json``): model, language (``all`` for the whole set), gains, k,
    ndcg with its 95% bootstrap CI over queries (ranking each query's rated pairs by the expected level),
    accuracy (argmax = consensus level), within_one (|argmax − level| ≤ 1), n_queries, n_pairs.
    ``truth``: the consensus to score against, rows of ``labels_in_force(url, include_imports=False)`` (e.g. some
    languages' queries only); default all of it (of ``campaign``). ``predictions``: per model, its predictions
    (columns query_pk, product_pk, expected, argmax); default the predictions table.
    Raises NoPredictionsError when a model has no stored prediction on the rated pairs.
    """
    from core import metrics
    from core.errors import NoPredictionsError

    if truth is None:
        truth = labels_in_force(url, include_imports=False, campaign=campaign)
    if truth.empty:
        raise InvalidInputError("no rater consensus yet: rate some tasks before comparing models with humans")
    ks = metrics.parse_ks(ks)
    rows = []
    if predictions is not None:
        preds = {m: predictions.get(m, pd.DataFrame(columns=["query_pk", "product_pk", "expected", "argmax"]))
                 for m in models}
    else:
        with session_scope(url) as s:
            preds = {m: pd.DataFrame(s.execute(select(Prediction.query_pk, Prediction.product_pk, Prediction.expected,
                                                      Prediction.argmax).where(Prediction.model == m)).all(),
                                     columns=["query_pk", "product_pk", "expected", "argmax"]) for m in models}
    for model, pred in preds.items():
        df = truth.merge(pred, on=["query_pk", "product_pk"])
        if df.empty:
            raise NoPredictionsError(f"model {model!r} has no stored prediction on the rated pairs; run "
                                     f"`relevance score {model} --judged` first")
        for language, part in [("all", df)] + list(df.groupby("language")):
            cls = metrics.classification_scores(part["level"].tolist(), part["argmax"].tolist())
            qrels, run = {}, {}
            for r in part.itertuples():
                qrels.setdefault(r.query_id, {})[r.product_id] = int(r.level)
                run.setdefault(r.query_id, {})[r.product_id] = float(r.expected)
            for g in gains:
                for k in ks:
                    summ = metrics.summarize(metrics.ndcg_per_query(qrels, run, k, g), seed=seed)
                    rows.append({"model": model, "language": language, "gains": g, "k": "all" if k is None else str(k),
                                 "ndcg": summ["mean"], "ci_low": summ["ci_low"], "ci_high": summ["ci_high"],
                                 "accuracy": cls["accuracy"],
                                 "within_one": float((np.abs(part["argmax"] - part["level"]) <= 1).mean()),
                                 "n_queries": int(part["query_id"].nunique()), "n_pairs": len(part)})
    return pd.DataFrame(rows)


def side_by_side_results(campaign: str | int, url: str | None = None) -> pd.DataFrame:
    """Win rate of the campaign's first model against its second, per language and overall.

    Answers in force only (undone ones are left out); each answer counts once. Columns: first, second,
    language, n, wins, losses, ties, win_rate = wins / (wins + losses) with its 95% Wilson interval
    (ci_low, ci_high; ties reported apart, not in the rate), and win_rate_ties_half = (wins + ties/2) / n.
    """
    from core.campaigns.admin import campaign_row

    with session_scope(url) as s:
        c = campaign_row(s, campaign)
        if c.kind != "side_by_side":
            raise InvalidInputError(f"campaign {c.name!r} is a {c.kind} campaign; win rates need a side_by_side one")
        first, second = (c.config or {}).get("models", ["teacher", "student"])[:2]
        rows = s.execute(select(Comparison.id, Comparison.supersedes_id, Comparison.retracted, Comparison.answer,
                                Comparison.model_a, Comparison.model_b, Query.language)
                         .join(Task, Task.id == Comparison.task_id).join(Query, Query.id == Comparison.query_pk)
                         .where(Task.campaign_id == c.id)).all()
    df = pd.DataFrame(rows, columns=["id", "supersedes_id", "retracted", "answer", "model_a", "model_b", "language"])
    df = df[~df["id"].isin(set(df["supersedes_id"].dropna().astype(int))) & ~df["retracted"].astype(bool)]
    df["winner"] = np.where(df["answer"] == "A", df["model_a"], np.where(df["answer"] == "B", df["model_b"], None))
    out = []
    for language, part in [("all", df)] + list(df.groupby("language")):
        wins, losses = int((part["winner"] == first).sum()), int((part["winner"] == second).sum())
        ties, n = int((part["answer"] == "tie").sum()), len(part)
        low, high = agr.wilson_interval(wins, wins + losses)
        out.append({"first": first, "second": second, "language": language, "n": n, "wins": wins, "losses": losses,
                    "ties": ties, "win_rate": wins / (wins + losses) if wins + losses else math.nan,
                    "ci_low": low, "ci_high": high, "win_rate_ties_half": (wins + ties / 2) / n if n else math.nan})
    return pd.DataFrame(out)
