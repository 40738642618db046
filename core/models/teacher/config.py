"""The teacher's settings: ``TeacherConfig`` (saved in ``teacher.json``), the dev split and query-grouped folds,
the kept-epoch choices, the artifact's fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.errors import InvalidInputError

ARTIFACT_FORMAT = 1
SELECTIONS = ("ndcg", "accuracy", "last")
WEIGHTS_FILE = "biencoder.safetensors"  # the bi-encoder teacher's fine-tuned layers
# what a trained teacher folder holds besides teacher.json, by its ``arch`` (no arch: a cross-encoder)
TRAINED_FILES = {"cross-encoder": ("adapter_config.json", "adapter_model.safetensors"), "biencoder": (WEIGHTS_FILE,)}


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


def query_text_key(texts: pd.Series) -> pd.Series:
    """Queries compared by case-folded, stripped text: two ids with one such text are one query for a split."""
    return texts.str.casefold().str.strip()


def query_folds(pairs: pd.DataFrame, n_folds: int, seed: int = 0) -> list[set[str]]:
    """Query ids of each fold: queries grouped by case-folded text, groups dealt out at random
    (seeded), so folds are about equal in queries."""
    from sklearn.model_selection import GroupKFold

    q = pairs.drop_duplicates("query_id")
    groups = query_text_key(q["query"]).to_numpy()
    if len(set(groups)) < n_folds:
        raise InvalidInputError(f"need at least {n_folds} distinct queries for {n_folds} folds; got {len(set(groups))}")
    kf = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    ids = q["query_id"].to_numpy()
    return [set(ids[test]) for _, test in kf.split(ids, groups=groups)]


def teacher_fingerprint(teacher_dir: str | Path) -> str:
    """SHA-1 over ``teacher.json`` and the trained files of its ``arch`` (``TRAINED_FILES``; another kind's files
    left in the folder do not count): labels from another teacher are never reused."""
    h = hashlib.sha1()
    meta = Path(teacher_dir) / "teacher.json"
    arch = (json.loads(meta.read_text()).get("arch") if meta.exists() else None) or "cross-encoder"
    for name in ("teacher.json", *TRAINED_FILES.get(arch, ())):
        p = Path(teacher_dir) / name
        if p.exists():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def read_teacher_meta(artifact: str | Path) -> dict:
    """A trained teacher's ``teacher.json``; FileNotFoundError (saying how to train one) when there is none."""
    meta_file = Path(artifact) / "teacher.json"
    if not meta_file.exists():
        raise FileNotFoundError(f"no trained teacher at {artifact} (teacher.json missing); train one with "
                                f"`relevance train teacher` or `make train`")
    return json.loads(meta_file.read_text())
