"""Training the bi-encoder teacher (``core.models.teacher.bienc_model``) on human labels.

The prior's logistic regression must learn the cosine's weight from cosines of pairs the bi-encoder did not train
on, or it would trust a cosine that has seen the answers: so the training pairs' cosines are **cross-fitted**
(``crossfit_cosines``: the pairs split into ``inner_folds`` query-grouped parts, each part's cosines from a
bi-encoder fine-tuned on the other parts), and the kept bi-encoder is then fine-tuned on all the training pairs.
Cross-validation (``core.workflows.biencoder_cv``) uses the same two functions per fold.

The regression trains on the pointwise queries only (fewer than ``LISTWISE_MIN`` judged products: the multilingual
set; listwise pairs make the prior worse under cross-validation), and by default so does the bi-encoder;
``encoder_listwise`` adds the listwise training queries' pairs to every fine-tune of the bi-encoder (never to the
regression). The listwise queries of the dev split are evaluated either way (nDCG@20).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.errors import InvalidInputError
from core.metrics.pointwise import listwise_pairs
from core.models.teacher.bienc_model import ARCH, COSINE
from core.models.teacher.biencoder import BiEncoder, BiEncoderConfig
from core.models.teacher.config import ARTIFACT_FORMAT, TRAINED_FILES, query_folds, split_queries
from core.models.teacher.priors import FeaturePrior, prior_probs
from core.models.teacher.train import TrainResult, dev_metrics

log = logging.getLogger(__name__)

MakeEncoder = Callable[[BiEncoderConfig], BiEncoder]


def epoch_cosines(pairs: pd.DataFrame, texts: dict, fit: pd.DataFrame, cfg: BiEncoderConfig,
                  make_encoder: MakeEncoder = BiEncoder, *, before: bool = False,
                  progress: bool = False) -> tuple[BiEncoder, dict[int, np.ndarray]]:
    """Fine-tune a fresh bi-encoder on the ``fit`` pairs; (it, the cosines of ``pairs`` after each epoch), with
    epoch 0 (the untrained model's) when ``before``. ``texts``: product id → the text the bi-encoder reads."""
    enc = make_encoder(cfg)
    q, p = pairs["query"].tolist(), [texts[i] for i in pairs["product_id"]]
    out: dict[int, np.ndarray] = {0: enc.cosines(q, p)} if before else {}
    enc.fit(fit["query"].tolist(), [texts[i] for i in fit["product_id"]], fit["level"].tolist(), progress=progress,
            on_epoch=lambda e: out.__setitem__(e, enc.cosines(q, p)))
    return enc, out


def crossfit_cosines(train: pd.DataFrame, texts: dict, cfg: BiEncoderConfig, inner_folds: int,
                     make_encoder: MakeEncoder = BiEncoder, progress: bool = False,
                     extra: pd.DataFrame | None = None) -> dict[int, np.ndarray]:
    """Per epoch (1 … ``cfg.epochs``), the cosine of every training pair from a bi-encoder that did not train on its
    query; ``extra`` pairs (no query of ``train``'s) join every fine-tune."""
    out: dict[int, np.ndarray] = {}
    for part in query_folds(train, inner_folds, cfg.seed):
        held = train["query_id"].isin(part).to_numpy()
        _, cosines = epoch_cosines(train[held], texts, pd.concat([train[~held], extra]), cfg, make_encoder,
                                   progress=progress)
        for epoch, cos in cosines.items():
            out.setdefault(epoch, np.zeros(len(train), np.float32))[held] = cos
    return out


def train_biencoder_teacher(labels: pd.DataFrame, catalog: Catalog, out: str | Path,
                            cfg: BiEncoderConfig = BiEncoderConfig(), *, dev_fraction: float = 0.2,
                            inner_folds: int = 3, encoder_listwise: bool = False, name: str = "teacher",
                            progress: bool = False, make_encoder: MakeEncoder = BiEncoder) -> TrainResult:
    """Train on human labels (query_id, query, product_id, level; optional language) and write ``out``
    (``teacher.json``, ``biencoder.safetensors``; an earlier cross-encoder's adapter and checkpoint there are
    removed).

    The dev queries are a seeded ``dev_fraction`` of all queries (``split_queries``, seed ``cfg.seed``); the
    returned metrics' history has epoch 0 (the feature prior alone, fitted on the same training pairs) and epoch
    ``cfg.epochs`` (the prior with the fine-tuned cosine), both on the dev pairs.
    """
    if cfg.epochs < 1:
        raise InvalidInputError(f"the bi-encoder needs at least one epoch; got {cfg.epochs}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    labels = labels[labels["product_id"].isin(catalog.ids)].reset_index(drop=True)
    dev_q = split_queries(labels["query_id"], dev_fraction, cfg.seed)
    dev = labels[labels["query_id"].isin(dev_q)].reset_index(drop=True)
    train = labels[~labels["query_id"].isin(dev_q)]
    listwise = listwise_pairs(train)
    extra = train[listwise].reset_index(drop=True) if encoder_listwise else None
    train = train[~listwise].reset_index(drop=True)
    if train["query_id"].nunique() < inner_folds or dev.empty:
        raise InvalidInputError(f"need {inner_folds}+ training queries (pointwise) and "
                                f"some dev pairs; got {train['query_id'].nunique()} training queries and {len(dev)} "
                                f"dev pairs from {labels['query_id'].nunique()} queries")
    records = dict(zip(catalog.ids, catalog.products.to_dict("records")))
    prior = FeaturePrior(catalog, extra=[COSINE])
    fit = pd.concat([train, extra])  # what the kept bi-encoder fine-tunes on
    texts = {pid: prior.builder.product_text(records[pid]) for pid in {*fit["product_id"], *dev["product_id"]}}

    log.info("bi-encoder teacher: %d training pairs (%d queries; %d more listwise pairs for the bi-encoder), %d dev "
             "pairs; %d cross-fitted fine-tunes + 1", len(train), train["query_id"].nunique(),
             0 if extra is None else len(extra), len(dev), inner_folds)
    crossfit = crossfit_cosines(train, texts, cfg, inner_folds, make_encoder, progress, extra)[cfg.epochs]
    enc = make_encoder(cfg)  # the kept bi-encoder: every training pair
    enc.fit(fit["query"].tolist(), [texts[p] for p in fit["product_id"]], fit["level"].tolist(),
            progress=progress)
    dev_cos = enc.cosines(dev["query"].tolist(), [texts[p] for p in dev["product_id"]])
    probs = {0: prior_probs(FeaturePrior(catalog), records, train, dev),
             cfg.epochs: prior_probs(prior, records, train, dev, (crossfit[:, None], dev_cos[:, None]))}
    history = [{"epoch": e, **dev_metrics(p, dev)} for e, p in probs.items()]
    meta = {"format": ARTIFACT_FORMAT, "arch": ARCH, "name": name, "config": asdict(cfg),
            "training": {"dev_fraction": dev_fraction, "inner_folds": inner_folds, "pointwise_only": True,
                         "encoder_listwise_pairs": 0 if extra is None else len(extra)},
            "biencoder": enc.save(out), "prior": prior.state(),
            "train_pairs": len(train), "train_queries": int(train["query_id"].nunique()),
            "dev_pairs": len(dev), "dev_queries": int(dev["query_id"].nunique()),
            "dev_query_ids": sorted(dev_q), "train_query_ids": sorted(set(train["query_id"])),
            "best_epoch": cfg.epochs}
    (out / "teacher.json").write_text(json.dumps(meta, indent=1) + "\n")
    for stale in TRAINED_FILES["cross-encoder"]:  # an earlier cross-encoder's adapter and checkpoint
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    return TrainResult(out, {"best": history[-1], "history": history}, dev=dev, dev_probs=probs)
