"""Query-grouped cross-validation of the teacher over a pointwise data set (``esci_multilingual``).

Each fold trains on the listwise set's training queries (``esci_us``: its usual seeded dev split stays
out) plus the pointwise pairs of the other folds, and is measured on its own fold's pairs and on the
listwise dev queries. Folds group queries by their text (case-folded), so a query asked in two
marketplaces is never on both sides, and a listwise training query whose text is in the test fold is left
out of that fold's training. Every epoch is kept (``select="last"``), so no test fold ever picks an epoch;
epoch 0 is the feature prior alone, which makes "does the cross-encoder add to its prior?" a paired
comparison on the same pairs.

Options for the issue's questions: ``train_languages`` (the unseen-language test: train on English
pairs only, measure on Spanish and Japanese), ``max_train_queries`` (the learning curve: that many
pointwise training queries per fold).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from core import metrics
from core.catalog import Catalog
from core.errors import InvalidInputError
from core.jsonable import jsonable
from core.metrics.pointwise import ModelOutput, holm_in_place, pointwise_rows
from core.models.teacher import TeacherConfig, split_queries, train_teacher
from core.scale import PROB_COLS

log = logging.getLogger(__name__)


def query_folds(pairs: pd.DataFrame, n_folds: int, seed: int = 0) -> list[set[str]]:
    """Query ids of each fold: queries grouped by case-folded text, groups dealt out at random
    (seeded), so folds are about equal in queries."""
    from sklearn.model_selection import GroupKFold

    q = pairs.drop_duplicates("query_id")
    groups = q["query"].str.casefold().str.strip().to_numpy()
    if len(set(groups)) < n_folds:
        raise InvalidInputError(f"need at least {n_folds} distinct queries for {n_folds} folds; got {len(set(groups))}")
    kf = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    ids = q["query_id"].to_numpy()
    return [set(ids[test]) for _, test in kf.split(ids, groups=groups)]


def cross_validate(listwise: pd.DataFrame, pointwise: pd.DataFrame, catalog: Catalog, out: str | Path,
                   cfg: TeacherConfig, *, n_folds: int = 4, folds: Sequence[int] | None = None,
                   train_languages: Collection[str] | None = None, max_train_queries: int | None = None,
                   progress: bool = True, name: str = "cv") -> dict:
    """Train one teacher per fold and write ``out/<name>.json`` (config, per-fold histories, pooled
    per-epoch pointwise rows) and ``out/<name>.parquet`` (each test pair's probabilities per epoch).

    Args:
        listwise: labels of the listwise set (query_id, query, language, product_id, level).
        pointwise: labels of the pointwise set, same columns.
        catalog: the products.
        out: folder of the results; each fold's artifact goes to ``out/<name>/fold<i>``.
        cfg: the teacher recipe (``select`` is forced to ``last``).
        n_folds: folds of the pointwise set.
        folds: run only these folds (default all); the pooled rows cover the folds run.
        train_languages: keep only pointwise training pairs of these languages (test folds keep all).
        max_train_queries: at most this many pointwise training queries per fold (seeded sample).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, select="last")
    fold_ids = query_folds(pointwise, n_folds, cfg.seed)
    lw_dev = split_queries(listwise["query_id"], cfg.dev_fraction, cfg.seed)
    shared_cache, histories, parts = None, [], []
    for f in (folds if folds is not None else range(n_folds)):
        t0 = time.perf_counter()
        test = pointwise[pointwise["query_id"].isin(fold_ids[f])]
        train_pw = pointwise[~pointwise["query_id"].isin(fold_ids[f])]
        if train_languages:
            train_pw = train_pw[train_pw["language"].isin(set(train_languages))]
        if max_train_queries is not None:
            keep = pd.Series(sorted(set(train_pw["query_id"])))
            keep = set(keep.sample(n=min(max_train_queries, len(keep)), random_state=cfg.seed))
            train_pw = train_pw[train_pw["query_id"].isin(keep)]
        test_texts = set(test["query"].str.casefold().str.strip())
        dev_texts = set(listwise.loc[listwise["query_id"].isin(lw_dev), "query"].str.casefold().str.strip())
        train_pw = train_pw[~train_pw["query"].str.casefold().str.strip().isin(dev_texts)]
        lw = listwise[listwise["query_id"].isin(lw_dev)
                      | ~listwise["query"].str.casefold().str.strip().isin(test_texts)]
        labels = pd.concat([lw, train_pw, test], ignore_index=True)
        result = train_teacher(labels, catalog, out / name / f"fold{f}", cfg, resume=False, progress=progress,
                               name=f"teacher-{name}-fold{f}", dev_query_ids=lw_dev | set(test["query_id"]),
                               layer_cache=shared_cache, keep_dev_predictions=True)
        shared_cache = result.layer_cache
        dev = result.dev
        in_test = dev["query_id"].isin(fold_ids[f]).to_numpy()
        for epoch, probs in result.dev_probs.items():
            part = dev.loc[in_test, ["query_id", "query", "language", "product_id", "level"]].copy()
            part[PROB_COLS] = probs[in_test]
            part["epoch"], part["fold"] = epoch, f
            parts.append(part)
        histories.append({"fold": f, "train_pointwise_pairs": len(train_pw),
                          "train_pointwise_queries": int(train_pw["query_id"].nunique()),
                          "train_listwise_queries": int(lw["query_id"].nunique() - len(lw_dev & set(lw["query_id"]))),
                          "test_pairs": int(in_test.sum()), "minutes": round((time.perf_counter() - t0) / 60, 1),
                          "history": result.metrics["history"]})
        log.info("fold %d done in %.1f min", f, histories[-1]["minutes"])
        preds = pd.concat(parts, ignore_index=True)
        preds.to_parquet(out / f"{name}.parquet", index=False)
        doc = {"name": name, "config": asdict(cfg), "n_folds": n_folds,
               "train_languages": sorted(train_languages) if train_languages else None,
               "max_train_queries": max_train_queries, "folds": histories, "rows": pooled_rows(preds)}
        (out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=jsonable) + "\n")
    return doc


def pooled_rows(preds: pd.DataFrame, reference_epoch: int = 0) -> list[dict]:
    """Pointwise rows per epoch over the test pairs of every fold run, each epoch against epoch
    ``reference_epoch`` (the prior alone) on the same pairs, Holm-corrected together."""
    epochs = sorted(preds["epoch"].unique())
    ref = reference_epoch if reference_epoch in epochs else epochs[0]
    base = preds[preds["epoch"] == ref].sort_values(["fold", "query_id", "product_id"]).reset_index(drop=True)
    outputs = {}
    for e in [ref] + [e for e in epochs if e != ref]:
        cur = preds[preds["epoch"] == e].sort_values(["fold", "query_id", "product_id"]).reset_index(drop=True)
        if len(cur) != len(base):
            continue  # an epoch not every fold reached
        probs = cur[PROB_COLS].to_numpy()
        outputs[f"epoch {e}"] = ModelOutput(metrics.expected_level(probs), probs.argmax(1) + 1)
    rows = pointwise_rows(base, outputs)
    holm_in_place(rows)
    return rows
