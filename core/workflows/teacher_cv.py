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
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core import metrics
from core.catalog import Catalog
from core.errors import InvalidInputError
from core.jsonable import jsonable
from core.metrics.pointwise import ModelOutput, holm_in_place, pointwise_rows
from core.models.teacher import FeaturePrior, TeacherConfig, split_queries, train_teacher
from core.models.teacher.config import query_folds, query_text_key
from core.models.teacher.priors import prior_probs
from core.scale import PROB_COLS

log = logging.getLogger(__name__)


def split_by_data_set(labels: pd.DataFrame, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the other labels, the labels imported as ``name``): the listwise and pointwise sides of a
    cross-validation over data set ``name`` (a pair's ``source`` lists every import that labelled it)."""
    in_set = labels["source"].str.split(",").map(lambda sources: f"import:{name}" in sources)
    return labels[~in_set], labels[in_set]


@dataclass(frozen=True)
class Fold:
    """One fold's data: the listwise labels it keeps (training queries + the listwise dev queries), its
    pointwise training pairs and its pointwise test pairs."""

    index: int
    listwise: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    listwise_dev: frozenset[str]

    @property
    def listwise_train(self) -> pd.DataFrame:
        """The listwise training queries' pairs."""
        return self.listwise[~self.listwise["query_id"].isin(self.listwise_dev)]

    @property
    def fit_pairs(self) -> pd.DataFrame:
        """The pairs a model fits on: the listwise training queries' pairs and the pointwise training pairs."""
        return pd.concat([self.listwise_train, self.train])


def fold_data(listwise: pd.DataFrame, pointwise: pd.DataFrame, *, n_folds: int, seed: int, dev_fraction: float,
              folds: Sequence[int] | None = None, train_languages: Collection[str] | None = None,
              max_train_queries: int | None = None, unseen: bool = False,
              pointwise_only: bool = False) -> Iterator[Fold]:
    """The folds of ``cross_validate`` (and of ``cross_validate_prior``, so both see the same pairs).

    A listwise training query whose text is in the test fold is left out of that fold; a pointwise training
    query whose text is a listwise dev query is left out (so the listwise dev nDCG stays held out).
    ``unseen``: one fold instead, training on every pointwise pair of ``train_languages`` and tested on every
    pair of the other languages (which no fold would train on anyway): the unseen-language test in one
    training; a query text asked in both is kept out of training. ``pointwise_only``: no listwise training
    queries (the listwise dev queries stay, to be measured).
    """
    lw_dev = frozenset(split_queries(listwise["query_id"], dev_fraction, seed))
    dev_texts = set(query_text_key(listwise.loc[listwise["query_id"].isin(lw_dev), "query"]))
    if unseen:
        if not train_languages:
            raise InvalidInputError("the unseen-language run needs the training languages (--train-languages)")
        seen = pointwise["language"].isin(set(train_languages))
        splits = [(0, pointwise[~seen])]
    else:
        fold_ids = query_folds(pointwise, n_folds, seed)
        splits = [(f, pointwise[pointwise["query_id"].isin(fold_ids[f])])
                  for f in (folds if folds is not None else range(n_folds))]
    for f, test in splits:
        train = pointwise[~pointwise["query_id"].isin(set(test["query_id"]))]
        train = train[~query_text_key(train["query"]).isin(set(query_text_key(test["query"])))]
        if train_languages:
            train = train[train["language"].isin(set(train_languages))]
        if max_train_queries is not None:
            keep = pd.Series(sorted(set(train["query_id"])))
            train = train[train["query_id"].isin(set(keep.sample(n=min(max_train_queries, len(keep)),
                                                                  random_state=seed)))]
        train = train[~query_text_key(train["query"]).isin(dev_texts)]
        lw = listwise[listwise["query_id"].isin(lw_dev) | ~query_text_key(listwise["query"]).isin(set(query_text_key(test["query"])))]
        if pointwise_only:
            lw = lw[lw["query_id"].isin(lw_dev)]
        yield Fold(f, lw, train, test, lw_dev)


def fold_record(fold: Fold, minutes: float, history: list[dict]) -> dict:
    """One fold's entry in a run file: its training and test sizes, minutes and per-epoch history."""
    return {"fold": fold.index, "train_pointwise_pairs": len(fold.train),
            "train_pointwise_queries": int(fold.train["query_id"].nunique()),
            "train_listwise_queries": int(fold.listwise_train["query_id"].nunique()), "test_pairs": len(fold.test),
            "minutes": round(minutes, 1), "history": history}


def test_part(test: pd.DataFrame, probs: np.ndarray, epoch: int, fold: int) -> pd.DataFrame:
    """A fold's test pairs with one epoch's level probabilities: rows of a run's ``.parquet``."""
    part = test[["query_id", "query", "language", "product_id", "level"]].copy()
    part[PROB_COLS] = probs
    part["epoch"], part["fold"] = epoch, fold
    return part


def write_run(out: Path, name: str, parts: list[pd.DataFrame], doc: dict) -> dict:
    """Write ``out/<name>.parquet`` (the test pairs' probabilities) and ``out/<name>.json`` (``doc`` + the pooled
    per-epoch rows); returns the JSON document."""
    preds = pd.concat(parts, ignore_index=True)
    preds.to_parquet(out / f"{name}.parquet", index=False)
    doc = {**doc, "rows": pooled_rows(preds)}
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1, default=jsonable) + "\n")
    return doc


def merge_runs(out: Path, name: str, parts: Sequence[str]) -> dict:
    """Write run ``name`` into ``out`` from runs ``parts`` there that ran other folds of one setting (e.g. ``--folds
    0,1`` and ``--folds 2,3``, on two machines); refuses parts whose settings differ or that share a fold."""
    docs = [json.loads((out / f"{p}.json").read_text()) for p in parts]
    setting = [{k: v for k, v in d.items() if k not in ("name", "folds", "rows")} for d in docs]
    if any(s != setting[0] for s in setting[1:]):
        diff = sorted({k for s in setting[1:] for k in {*s, *setting[0]} if s.get(k) != setting[0].get(k)})
        raise InvalidInputError(f"runs {', '.join(parts)} differ in {', '.join(diff)}: not one setting")
    folds = [f["fold"] for d in docs for f in d["folds"]]
    if len(folds) != len(set(folds)):
        raise InvalidInputError(f"runs {', '.join(parts)} share a fold ({sorted(folds)}): nothing to merge")
    preds = [pd.read_parquet(out / f"{p}.parquet") for p in parts]
    return write_run(out, name, preds, {**docs[0], "name": name,
                                        "folds": sorted((f for d in docs for f in d["folds"]), key=lambda f: f["fold"])})


def cross_validate(listwise: pd.DataFrame, pointwise: pd.DataFrame, catalog: Catalog, out: str | Path,
                   cfg: TeacherConfig, *, n_folds: int = 4, folds: Sequence[int] | None = None,
                   train_languages: Collection[str] | None = None, max_train_queries: int | None = None,
                   progress: bool = True, name: str = "cv", unseen: bool = False,
                   pointwise_only: bool = False) -> dict:
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
        unseen: one training on every pointwise pair of ``train_languages``, tested on the other languages'
            pairs (see ``fold_data``); ``n_folds`` and ``folds`` do not apply.
        pointwise_only: train on the pointwise pairs alone (no listwise training queries; see ``fold_data``).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = replace(cfg, select="last")
    head = _head(name, cfg, n_folds, train_languages, max_train_queries, unseen, pointwise_only)
    histories, parts = _earlier_folds(out, name, head, skip=None if unseen else folds)
    shared_cache, doc = None, {}
    for fold in fold_data(listwise, pointwise, n_folds=n_folds, seed=cfg.seed, dev_fraction=cfg.dev_fraction,
                          folds=folds, train_languages=train_languages, max_train_queries=max_train_queries,
                          unseen=unseen, pointwise_only=pointwise_only):
        t0 = time.perf_counter()
        labels = pd.concat([fold.listwise, fold.train, fold.test], ignore_index=True)
        result = train_teacher(labels, catalog, out / name / f"fold{fold.index}", cfg, resume=False,
                               progress=progress, name=f"teacher-{name}-fold{fold.index}",
                               dev_query_ids=fold.listwise_dev | set(fold.test["query_id"]),
                               layer_cache=shared_cache, keep_dev_predictions=True)
        shared_cache = result.layer_cache
        in_test = result.dev["query_id"].isin(set(fold.test["query_id"])).to_numpy()
        parts += [test_part(result.dev[in_test], probs[in_test], epoch, fold.index)
                  for epoch, probs in result.dev_probs.items()]
        histories.append(fold_record(fold, (time.perf_counter() - t0) / 60, result.metrics["history"]))
        histories.sort(key=lambda h: h["fold"])
        log.info("fold %d done in %.1f min", fold.index, histories[-1]["minutes"])
        doc = write_run(out, name, parts, {**head, "folds": histories})
    return doc


def _head(name: str, cfg: TeacherConfig, n_folds: int, train_languages: Collection[str] | None,
          max_train_queries: int | None, unseen: bool, pointwise_only: bool = False) -> dict:
    """What a run's file says about its setting (``unseen`` and ``pointwise_only`` only when set, so files of
    earlier runs match)."""
    head = {"name": name, "config": asdict(cfg), "n_folds": 1 if unseen else n_folds,
            "train_languages": sorted(train_languages) if train_languages else None,
            "max_train_queries": max_train_queries}
    return head | ({"unseen": True} if unseen else {}) | ({"pointwise_only": True} if pointwise_only else {})


def _earlier_folds(out: Path, name: str, head: dict, skip: Sequence[int] | None) -> tuple[list[dict], list]:
    """Folds an earlier ``--folds`` run of the same recipe wrote to ``out/<name>``, so that a run of the
    remaining folds completes it instead of replacing it; folds run again now are dropped from it. A
    different recipe under the same name is an error (nothing is overwritten)."""
    path = out / f"{name}.json"
    if skip is None or not path.exists():
        return [], []
    earlier = json.loads(path.read_text())
    differs = [k for k in head if json.dumps(earlier.get(k), default=jsonable) != json.dumps(head[k], default=jsonable)]
    if differs:
        raise InvalidInputError(f"{path} holds a run with another {', '.join(differs)}; "
                                f"choose another --cv-name or remove that run")
    keep = [h for h in earlier["folds"] if h["fold"] not in set(skip)]
    preds = pd.read_parquet(out / f"{name}.parquet")
    return keep, [preds[preds["fold"].isin({h["fold"] for h in keep})]]


def cross_validate_prior(listwise: pd.DataFrame, pointwise: pd.DataFrame, catalog: Catalog, out: str | Path,
                         cfg: TeacherConfig, *, n_folds: int = 4, train_languages: Collection[str] | None = None,
                         max_train_queries: int | None = None, name: str = "prior",
                         prior: FeaturePrior | None = None, unseen: bool = False,
                         pointwise_only: bool = False) -> dict:
    """The same folds with the feature prior alone (``cfg.prior`` must be ``features``): its logistic
    regression fitted on each fold's training pairs, no cross-encoder. Seconds per fold once the pairs'
    features are computed, so every fold and every learning-curve point is affordable on a CPU; the
    result files have the format of ``cross_validate`` (one "epoch 0"). ``prior``: a ``FeaturePrior`` of the
    same catalog to reuse (its pair features are kept between calls: several settings in one process)."""
    if cfg.prior != "features":
        raise InvalidInputError(f"the prior-only cross-validation fits the feature prior; got prior={cfg.prior!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prior = prior or FeaturePrior(catalog)
    products = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    histories, parts, doc = [], [], {}
    for fold in fold_data(listwise, pointwise, n_folds=n_folds, seed=cfg.seed, dev_fraction=cfg.dev_fraction,
                          train_languages=train_languages, max_train_queries=max_train_queries, unseen=unseen,
                          pointwise_only=pointwise_only):
        t0 = time.perf_counter()
        parts.append(test_part(fold.test, prior_probs(prior, products, fold.fit_pairs, fold.test), 0, fold.index))
        histories.append(fold_record(fold, (time.perf_counter() - t0) / 60, [{"epoch": 0}]))
        doc = write_run(out, name, parts, {**_head(name, cfg, n_folds, train_languages, max_train_queries, unseen,
                                                pointwise_only),
                                        "kind": "prior", "folds": histories})
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
