"""The student: a small MLP over ``core.models.features`` distilled from the teacher, served in numpy.

Training (torch) minimises, per pair,

$$
\\mathcal{L} = w_{soft}\\, T^2\\, \\mathrm{KL}\\big(p^{(T)}_{teacher} \\,\\|\\, \\mathrm{softmax}(z/T)\\big)
            + w_{hard}\\, \\mathrm{CE}\\big(\\mathrm{softmax}(z), y_{human}\\big)
$$

with ``p^(T) ∝ p^(1/T)`` the teacher's temperature-softened probabilities (Hinton et al., 2015,
"Distilling the Knowledge in a Neural Network", arXiv:1503.02531); each term only where its label
exists. Three students: ``student`` (teacher soft labels, the default), ``student-human`` (human
labels only) and ``student-mixed`` (both).

An artifact folder holds ``student.npz`` (float32 weights and standardisation statistics) and
``student.json`` (format, feature schema, configuration). Loading and scoring need numpy only: no
torch, no transformers. A schema or version mismatch is logged as a warning (as sentence-transformers
does for versions); a different number of features is an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import InvalidInputError
from core.models.base import LevelScorer, Progress, reporter
from core.models.features import FEATURE_VERSION, FeatureBuilder, FeatureConfig, shared_builder
from core.scale import LEVELS

log = logging.getLogger(__name__)
STUDENT_FORMAT = 1
LEVEL_VALUES = np.asarray(LEVELS, dtype=np.float32)
@dataclass(frozen=True)
class StudentConfig:
    """Hyper-parameters of a student (saved in ``student.json``)."""

    hidden: tuple[int, ...] = (128, 32)
    epochs: int = 40
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-3
    dropout: float = 0.2
    temperature: float = 2.0
    soft_weight: float = 1.0
    hard_weight: float = 1.0
    val_fraction: float = 0.1
    patience: int = 6
    seed: int = 0
    threads: int | None = None


def soft_label_loss(logits, teacher_probs, temperature: float = 2.0, reduction: str = "mean"):
    """Distillation loss ``T² · KL(p_T ‖ softmax(z / T))`` with ``p_T ∝ p^(1/T)``.

    Args:
        logits: student logits ``z``, shape (n, 5) (torch tensor).
        teacher_probs: teacher probabilities ``p``, shape (n, 5), rows summing to 1.
        temperature: ``T`` ≥ 1 softens both distributions; the ``T²`` keeps gradients comparable across T.
        reduction: ``mean`` over rows, or ``none`` for one value per row.

    Requirements:
        5-class teacher probabilities for the same pairs; zeros are allowed (0 · log 0 = 0).

    Example:
        uniform logits against a teacher sure of level 1, ``T = 1``: ``log 5 ≈ 1.609``.
    """
    import torch

    t = float(temperature)
    p_t = teacher_probs.clamp_min(0) ** (1.0 / t)
    p_t = p_t / p_t.sum(-1, keepdim=True)
    log_q = torch.log_softmax(logits / t, dim=-1)
    kl = (torch.special.xlogy(p_t, p_t) - p_t * log_q).sum(-1) * t * t
    if reduction == "none":
        return kl
    if reduction != "mean":
        raise InvalidInputError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return kl.mean() if len(kl) else logits.sum() * 0


@dataclass
class StudentWeights:
    """An MLP as numpy arrays: ``layers`` of (W (in, out), b (out,)), input ``mean`` and ``std``."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray
    std: np.ndarray
    history: list[dict] = field(default_factory=list)

    def logits(self, X: np.ndarray) -> np.ndarray:
        h = (np.asarray(X, dtype=np.float32) - self.mean) / self.std
        for i, (W, b) in enumerate(self.layers):
            h = h @ W + b
            if i < len(self.layers) - 1:
                np.maximum(h, 0, out=h)
        return h

    def save(self, path: Path) -> None:
        arrays = {"mean": self.mean, "std": self.std}
        for i, (W, b) in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = W, b
        np.savez_compressed(path, **{k: v.astype(np.float32) for k, v in arrays.items()})

    @classmethod
    def load(cls, path: Path) -> StudentWeights:
        with np.load(path) as z:
            n = sum(1 for k in z.files if k.startswith("W"))
            return cls([(z[f"W{i}"], z[f"b{i}"]) for i in range(n)], z["mean"], z["std"])


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _val_split(groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Rows whose group (query) falls in the seeded hash split: a query is never on both sides."""
    def u(g: str) -> float:
        return int(hashlib.sha1(f"student{seed}:{g}".encode()).hexdigest()[:8], 16) / 2**32
    in_val = {g: u(g) < fraction for g in set(groups.tolist())}
    return np.array([in_val[g] for g in groups.tolist()], dtype=bool)


def fit(X: np.ndarray, soft: np.ndarray | None, hard: np.ndarray | None, groups: Sequence[str],
        cfg: StudentConfig = StudentConfig(), progress: bool = False) -> StudentWeights:
    """Train an MLP with 5 outputs; early stopping on a held-out share of the queries.

    Args:
        X: features (n, F).
        soft: teacher probabilities (n, 5); rows of NaN where a pair has no teacher label (or None).
        hard: human levels 1…5 (n,); 0 where a pair has no human label (or None).
        groups: query id of each row (the validation split is by query).
    """
    import torch
    from tqdm.auto import tqdm

    n = len(X)
    soft = np.full((n, 5), np.nan, np.float32) if soft is None else np.asarray(soft, np.float32)
    hard = np.zeros(n, np.int64) if hard is None else np.asarray(hard, np.int64)
    has_soft, has_hard = ~np.isnan(soft).any(1), hard > 0
    if not (has_soft | has_hard).any():
        raise InvalidInputError("no labelled rows: give teacher probabilities (soft) or human levels (hard)")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    val = _val_split(np.asarray(groups, dtype=object), cfg.val_fraction, cfg.seed)
    if val.all() or not val.any():
        val = np.zeros(n, bool)
    train = ~val
    mean = X[train].mean(0).astype(np.float32)
    std = X[train].std(0).astype(np.float32)
    std[std < 1e-6] = 1.0

    sizes = [X.shape[1], *cfg.hidden, 5]
    mods: list = []
    for i in range(len(sizes) - 1):
        mods.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            mods += [torch.nn.ReLU(), torch.nn.Dropout(cfg.dropout)]
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    Xt = torch.from_numpy(((X - mean) / std).astype(np.float32))
    St = torch.from_numpy(np.nan_to_num(soft, nan=0.2))
    Ht = torch.from_numpy(np.clip(hard - 1, 0, 4))
    ms, mh = torch.from_numpy(has_soft), torch.from_numpy(has_hard)

    def loss_on(idx: torch.Tensor) -> torch.Tensor:
        z = net(Xt[idx])
        total = z.sum() * 0
        s, h = ms[idx], mh[idx]
        if cfg.soft_weight and s.any():
            total = total + cfg.soft_weight * soft_label_loss(z[s], St[idx][s], cfg.temperature)
        if cfg.hard_weight and h.any():
            total = total + cfg.hard_weight * torch.nn.functional.cross_entropy(z[h], Ht[idx][h])
        return total

    train_idx, val_idx = np.flatnonzero(train), torch.from_numpy(np.flatnonzero(val))
    rng = np.random.default_rng(cfg.seed)
    best, best_state, bad, history = float("inf"), None, 0, []
    for epoch in tqdm(range(cfg.epochs), desc="student epochs", disable=not progress, leave=False):
        net.train()
        order = rng.permutation(train_idx)
        total = 0.0
        for i in range(0, len(order), cfg.batch_size):
            idx = torch.from_numpy(order[i:i + cfg.batch_size])
            loss = loss_on(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.eval()
        with torch.no_grad():
            v = float(loss_on(val_idx)) if len(val_idx) else total / max(len(order), 1)
        history.append({"epoch": epoch + 1, "train_loss": total / max(len(order), 1), "val_loss": v})
        if v < best - 1e-5:
            best, bad = v, 0
            best_state = {k: t.detach().clone() for k, t in net.state_dict().items()}
        else:
            bad += 1
            if bad > cfg.patience:
                break
    net.load_state_dict(best_state)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    layers = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears]
    return StudentWeights(layers, mean, std, history)


def _package_version() -> str:
    try:
        from importlib.metadata import version
        return version("relevance-studio")
    except Exception:  # running from a source tree without an installed distribution
        return "0+unknown"


def save(out: str | Path, weights: StudentWeights, schema: dict, cfg: StudentConfig, *, name: str,
         extra: dict | None = None) -> Path:
    """Write ``student.npz`` + ``student.json`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    weights.save(out / "student.npz")
    meta = {"format": STUDENT_FORMAT, "name": name, "version": _package_version(), "schema": schema,
            "config": asdict(cfg), "history": weights.history, **(extra or {})}
    (out / "student.json").write_text(json.dumps(meta, indent=1, default=float) + "\n")
    return out


class Student(LevelScorer):
    """A trained student: ``predict_proba(query, product_ids)`` → (n, 5), ``score`` → expected level.

    The first layer is folded with the standardisation and split by feature block, so ranking one
    query's candidates costs one (n × dim) @ (dim × hidden) product on cached product embeddings.
    """

    def __init__(self, artifact: str | Path, catalog: Catalog, features: FeatureBuilder | None = None, *,
                 weights: StudentWeights | None = None, meta: dict | None = None):
        self.path = Path(artifact)
        if meta is None:
            meta_file = self.path / "student.json"
            if not meta_file.exists():
                raise FileNotFoundError(f"no trained student at {self.path} (student.json missing); train one "
                                        f"with `relevance distill` or `make train`")
            meta = json.loads(meta_file.read_text())
        self.meta = meta
        self.name = self.meta.get("name", "student")
        self.catalog = catalog
        schema = self.meta["schema"]
        self.features = features or shared_builder(catalog, feature_config(schema))
        self._check(schema)
        self.weights = weights or StudentWeights.load(self.path / "student.npz")
        self._fold()

    @classmethod
    def from_weights(cls, weights: StudentWeights, features: FeatureBuilder, name: str = "student") -> Student:
        """A student straight from training, without an artifact folder (for curves and tests)."""
        meta = {"format": STUDENT_FORMAT, "name": name, "version": _package_version(), "schema": features.schema}
        return cls(Path(f"<{name} in memory>"), features.catalog, features, weights=weights, meta=meta)

    def _check(self, schema: dict) -> None:
        fb = self.features
        if self.meta.get("format") != STUDENT_FORMAT:
            log.warning("%s: artifact format %s, this code reads format %s; retrain with `relevance distill`",
                        self.path, self.meta.get("format"), STUDENT_FORMAT)
        if schema["n_features"] != len(fb.names):
            raise InvalidInputError(f"student {self.path} expects {schema['n_features']} features, but the feature builder "
                             f"makes {len(fb.names)}; retrain it with `relevance distill` (or pass the features "
                             f"it was trained with)")
        if schema.get("feature_version") != FEATURE_VERSION or schema.get("dense") != fb.dense_names:
            log.warning("%s was trained on feature version %s, this code computes version %s; its scores may be "
                        "off until it is retrained with `relevance distill`", self.path,
                        schema.get("feature_version"), FEATURE_VERSION)
        if schema.get("encoder_version") != fb.encoder.version:
            log.warning("%s was trained with encoder %s, the installed one is %s; retrain with `relevance distill` "
                        "if the scores look off", self.path, schema.get("encoder_version"), fb.encoder.version)
        if self.meta.get("version") not in (None, _package_version()):
            log.warning("%s was saved by relevance-studio %s, this is %s", self.path, self.meta.get("version"),
                        _package_version())

    def _fold(self) -> None:
        """First layer with the standardisation folded in, split into dense / q / p / q⊙p blocks."""
        w = self.weights
        W, b = w.layers[0]
        Wf = W / w.std[:, None]
        self._b0 = (b - (w.mean / w.std) @ W).astype(np.float32)
        m, d = len(self.features.dense_names), self.features.dim
        self._blocks = {"dense": Wf[:m]}
        for i, name in enumerate(self.features.cfg.embedding_blocks):
            self._blocks[name] = Wf[m + i * d:m + (i + 1) * d]
        self._rest = w.layers[1:]

    def logits_from_parts(self, dense: np.ndarray, q: np.ndarray, P: np.ndarray) -> np.ndarray:
        B = self._blocks
        h = dense @ B["dense"] + self._b0
        if "q" in B:
            h += q @ B["q"]
        Wp = B["p"] if "p" in B else None
        if "qp" in B:
            Wp = (B["qp"] * q[:, None]) if Wp is None else Wp + B["qp"] * q[:, None]
        if Wp is not None:
            h += P @ Wp
        for W, b in self._rest:
            np.maximum(h, 0, out=h)
            h = h @ W + b
        return h

    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        if len(product_ids) == 0:
            from core.text.queries import clean_query
            clean_query(query)
            return np.zeros((0, 5), dtype=np.float32)
        return softmax(self.logits_from_parts(*self.features.parts(query, product_ids)))

    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        return self.predict_proba(query, product_ids) @ LEVEL_VALUES

    def predict_pairs(self, queries: Sequence[str], products: Sequence, batch_size: int | None = None,
                      progress: Progress = False) -> np.ndarray:
        """Bulk scoring, the teacher's interface: level probabilities (n, 5) of (query, product) pairs.

        ``products`` are product dicts (with ``product_id``) or ids. Distinct queries are embedded in one
        batch, then each query's products go through the fast path together. ``batch_size`` is accepted
        for interface compatibility and ignored.
        """
        from core.text.queries import clean_query

        ids = [p["product_id"] if isinstance(p, dict) else p for p in products]
        cleaned = [clean_query(q) for q in queries]
        out = np.zeros((len(ids), 5), dtype=np.float32)
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(cleaned):
            groups.setdefault(q, []).append(i)
        if not groups:
            return out
        texts = list(groups)
        Q = self.features.encoder.encode_queries(texts)
        with reporter(progress, len(ids), "student scoring") as advance:
            for q, vec in zip(texts, Q):
                idx = groups[q]
                out[idx] = softmax(self.logits_from_parts(*self.features.parts(q, [ids[i] for i in idx], q=vec)))
                advance(len(idx))
        return out


def feature_config(schema: dict) -> FeatureConfig:
    """The FeatureConfig recorded in a student's schema."""
    return FeatureConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in schema["config"].items()})

