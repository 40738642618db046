"""The teacher's settings: ``TeacherConfig`` (saved in ``teacher.json``), the dev split, the kept-epoch choices."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

ARTIFACT_FORMAT = 1
SELECTIONS = ("ndcg", "accuracy", "last")


@dataclass(frozen=True)
class TeacherConfig:
    """Hyper-parameters of ``relevance train teacher`` (saved in ``teacher.json``).

    ``prior``: ``features``, ``e5-cosine`` or none (see ``FeaturePrior``); ``prior_lr``: learning rate of
    the prior's head (``None``: ``lr``; 0, the default, keeps the warm start frozen, so the cross-encoder learns only what
    the prior misses). ``listwise``: weight of a pairwise ranking loss (RankNet on the expected level,
    pairs of one query with different levels, weighted by their esci gain difference) added to the 5-class
    cross-entropy; when > 0 every batch holds products of a single query. ``freeze_layers``: the bottom
    K transformer layers get no adapter and are computed once per pair, then replayed every epoch
    (``core.models.teacher.layer_cache``), so an epoch costs only the top layers (0: adapt every layer). ``head_lr``:
    learning rate of the new classification head (and pooler) when it should differ from ``lr``.
    ``select``: which epoch is kept: ``ndcg`` (best dev nDCG@20 over the dev queries with several judged
    products), ``accuracy`` (best dev 5-class accuracy) or ``last`` (no early stopping: every epoch runs
    and the last is kept; what cross-validation uses, so no test fold ever picks an epoch).
    """

    backbone: str = "e5-small-ce"
    max_length: int = 128
    query_max_tokens: int = 32
    epochs: int = 3
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    label_smoothing: float = 0.05
    balanced: bool = False
    dev_fraction: float = 0.2
    patience: int = 1
    seed: int = 0
    max_train_pairs: int | None = None
    checkpoint_every: int = 100
    threads: int | None = None
    prior: str | None = "features"
    prior_lr: float | None = 0.0
    listwise: float = 1.0
    freeze_layers: int = 0
    head_lr: float | None = None
    select: str = "ndcg"


def split_queries(query_ids: Sequence[str], dev_fraction: float, seed: int) -> set[str]:
    """The dev queries: a stable, seeded hash split, so no query is on both sides and reruns agree."""
    def u(q: str) -> float:
        return int(hashlib.sha1(f"{seed}:{q}".encode()).hexdigest()[:8], 16) / 2**32
    return {q for q in set(query_ids) if u(q) < dev_fraction}
