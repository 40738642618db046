"""Does a fine-tuned e5 bi-encoder add to the feature prior? Query-grouped cross-validation over a pointwise set.

The folds are ``teacher_cv``'s. In each fold, e5 is fine-tuned as a bi-encoder on the fold's training pairs
(``core.models.teacher.biencoder``) and its cosine joins the feature prior's dense features in the prior's
logistic regression. The regression must learn its weight from cosines of pairs the bi-encoder did not train
on, or it would trust a cosine that has seen the answers: so the training pairs' cosines are **cross-fitted**
(``core.models.teacher.bienc_train.crossfit_cosines``, as the bi-encoder teacher trains), and the test pairs'
cosines come from one fine-tuned on all the training pairs.

The result files have ``cross_validate``'s format (``kind`` ``biencoder``): epoch 0 is the feature prior alone,
epoch ``k`` the prior plus the cosine after ``k`` epochs of fine-tuning, every epoch kept; each fold's history
also holds the fine-tuned cosine's own AUC on the test pairs (``cosine_auc``), and epoch 0's is the untrained e5's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.metrics import exact_vs_irrelevant_auc
from core.models.teacher import FeaturePrior, TeacherConfig
from core.models.teacher.bienc_model import COSINE
from core.models.teacher.bienc_train import crossfit_cosines, epoch_cosines
from core.models.teacher.biencoder import BiEncoder, BiEncoderConfig
from core.models.teacher.priors import prior_probs
from core.workflows.teacher_cv import fold_data, fold_record, test_part, write_run

log = logging.getLogger(__name__)


def cross_validate_biencoder(listwise: pd.DataFrame, pointwise: pd.DataFrame, catalog: Catalog, out: str | Path,
                             cfg: BiEncoderConfig = BiEncoderConfig(), *, n_folds: int = 4,
                             folds: Sequence[int] | None = None, inner_folds: int = 3, name: str = "biencoder",
                             teacher_cfg: TeacherConfig = TeacherConfig(),
                             train_languages: Collection[str] | None = None, max_train_queries: int | None = None,
                             encoder_listwise: bool = False, make_encoder=BiEncoder) -> dict:
    """Write ``out/<name>.json`` and ``.parquet`` (see the module docstring); pointwise training pairs only
    (the setting where the feature prior is best), of ``train_languages`` only when given (the unseen-language
    test: every test fold keeps all its pairs), of ``max_train_queries`` pointwise training queries per fold when
    given (a learning-curve point: the same seeded sample as ``cross_validate``'s). ``encoder_listwise``: the
    fold's listwise training queries' pairs join every fine-tune of the bi-encoder (not the prior's regression).
    ``make_encoder(cfg)`` builds a fresh bi-encoder (tests pass a tiny one)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    prior, with_cosine = FeaturePrior(catalog), FeaturePrior(catalog, extra=[COSINE])
    products = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    texts = {pid: prior.builder.product_text(rec) for pid, rec in products.items()}  # what its e5 cosine embeds
    head = {"name": name, "kind": "biencoder", "config": asdict(teacher_cfg), "biencoder": asdict(cfg),
            "inner_folds": inner_folds, "n_folds": n_folds,
            "train_languages": sorted(train_languages) if train_languages else None,
            "max_train_queries": max_train_queries,
            "pointwise_only": True, "encoder_listwise": encoder_listwise}
    histories, parts, doc = [], [], {}
    for fold in fold_data(listwise, pointwise, n_folds=n_folds, seed=teacher_cfg.seed,
                          dev_fraction=teacher_cfg.dev_fraction, folds=folds, train_languages=train_languages,
                          max_train_queries=max_train_queries, pointwise_only=not encoder_listwise):
        t0 = time.perf_counter()
        train, test = fold.train.reset_index(drop=True), fold.test.reset_index(drop=True)
        extra = fold.listwise_train if encoder_listwise else None
        parts.append(test_part(test, prior_probs(prior, products, train, test), 0, fold.index))
        inner = crossfit_cosines(train, texts, cfg, inner_folds, make_encoder, extra=extra)
        _, outer = epoch_cosines(test, texts, pd.concat([train, extra]), cfg, make_encoder, before=True)
        history = [{"epoch": 0, "cosine_auc": _auc(test, outer[0])}]
        for epoch in range(1, cfg.epochs + 1):
            probs = prior_probs(with_cosine, products, train, test, (inner[epoch][:, None], outer[epoch][:, None]))
            parts.append(test_part(test, probs, epoch, fold.index))
            history.append({"epoch": epoch, "cosine_auc": _auc(test, outer[epoch])})
        histories.append(fold_record(fold, (time.perf_counter() - t0) / 60, history))
        log.info("fold %d done in %.1f min: cosine AUC %s", fold.index, histories[-1]["minutes"],
                 [h["cosine_auc"] for h in history])
        doc = write_run(out, name, parts, {**head, "folds": histories})
    return doc


def _auc(test: pd.DataFrame, cos: np.ndarray) -> float:
    return round(float(exact_vs_irrelevant_auc(test["level"].to_numpy(), cos)), 4)
