"""Priors added to the cross-encoder's logits: a bi-encoder cosine prior and a feature prior."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.errors import InvalidInputError
from core.text.queries import clean_query

log = logging.getLogger(__name__)


class CosinePrior:
    """A bi-encoder prior for the cross-encoder: ``logits += w · z + b`` with ``z`` the standardised cosine
    of multilingual-e5-small embeddings of the query and the product (title, brand), from the frozen
    package weights. ``w`` starts monotone over the levels (−1 … 1), so training starts from the
    bi-encoder's ranking and the cross-encoder learns what the bi-encoder misses.
    """

    def __init__(self, mean: float = 0.0, std: float = 1.0, weight=None, bias=None):
        import torch

        self.mean, self.std = mean, std
        self.head = torch.nn.Linear(1, 5)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(weight if weight is not None else [[-1.0], [-0.5], [0.0], [0.5], [1.0]]))
            self.head.bias.copy_(torch.tensor(bias if bias is not None else [0.0] * 5))
        self._vecs: dict[str, np.ndarray] = {}

    def _embed(self, keys: list[str], texts: list[str], prefix: str) -> np.ndarray:
        from core.models import e5

        todo = [i for i, k in enumerate(keys) if prefix + k not in self._vecs]
        if todo:
            fresh = dict(zip((keys[i] for i in todo), (texts[i] for i in todo)))
            vecs = e5.embed(list(fresh.values()), prefix=prefix)
            self._vecs.update({prefix + k: v for k, v in zip(fresh, vecs)})
        return np.stack([self._vecs[prefix + k] for k in keys])

    def cosines(self, queries: Sequence[str], products: Sequence[Mapping]) -> np.ndarray:
        from core.models.rankers import product_text

        q = self._embed(list(queries), list(queries), "query: ")
        texts = [product_text(p, ("title", "brand")) for p in products]
        keys = [str(p.get("product_id") or t) for p, t in zip(products, texts)]
        return (q * self._embed(keys, texts, "passage: ")).sum(1)

    def fit(self, queries: Sequence[str], products: Sequence[Mapping], levels: Sequence[int] | None = None) -> None:
        """Standardise the cosine on the training pairs; the head keeps its monotone start (levels unused)."""
        cos = self.cosines(queries, products)
        self.mean, self.std = float(cos.mean()), float(cos.std() or 1.0)

    def logits(self, queries: Sequence[str], products: Sequence[Mapping]):
        import torch

        z = (self.cosines(queries, products) - self.mean) / self.std
        return self.head(torch.tensor(z, dtype=torch.float32).unsqueeze(1))

    def load(self, state: dict) -> None:
        import torch

        self.mean, self.std = state["mean"], state["std"]
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(state["weight"]))
            self.head.bias.copy_(torch.tensor(state["bias"]))

    def state(self) -> dict:
        return {"kind": "e5-cosine", "mean": self.mean, "std": self.std,
                "weight": self.head.weight.detach().cpu().tolist(), "bias": self.head.bias.detach().cpu().tolist()}


FEATURE_CACHE_PAIRS = 200_000  # a training set's pairs are re-read every epoch; ~26 MB at 33 features


class FeaturePrior:
    """A feature prior for the cross-encoder: ``logits += W · z + b`` with ``z`` the standardised dense
    student features of the pair (``core.models.features``: e5 cosine, BM25, title/brand/colour overlap, numbers
    and units, negation cues, engagement, language; no embedding blocks).

    ``fit`` standardises the features on the training pairs and warm-starts ``W, b`` with a multinomial
    logistic regression on them, so training starts from a ranker that already beats the bi-encoder
    cosine (bake-off in the model card) and the cross-encoder learns what the features miss. The
    features are pure functions of the pair and the catalog, so scores do not depend on the batch.
    """

    kind = "features"

    def __init__(self, catalog: Catalog, state: dict | None = None, extra: Sequence[str] = ()):
        import torch

        from core.models.features import FeatureConfig, shared_builder

        if catalog is None:
            raise InvalidInputError("the teacher's feature prior needs the catalog; pass catalog=")
        saved = {**(state or {}).get("feature_config", {}), "encoder": "e5", "embedding_blocks": ()}
        # JSON gave lists back; FeatureConfig is hashable (shared_builder's key) only with tuples
        self.builder = shared_builder(catalog, FeatureConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                               for k, v in saved.items()}))
        self.names = list(self.builder.dense_names)
        self.extra = list((state or {}).get("extra") or extra)  # columns the caller passes in (a fine-tuned cosine)
        d = len(self.names) + len(self.extra)
        self.mean, self.std = np.zeros(d, np.float32), np.ones(d, np.float32)
        self.head = torch.nn.Linear(d, 5)
        with torch.no_grad():
            self.head.weight.zero_()
            self.head.bias.zero_()
        self._cache: dict[tuple[str, str], np.ndarray] = {}
        if state:
            self.load(state)

    def features(self, queries: Sequence[str], products: Sequence[Mapping]) -> np.ndarray:
        keys = [(clean_query(q), str(p["product_id"])) for q, p in zip(queries, products)]
        if len(self._cache) > FEATURE_CACHE_PAIRS:  # bounded: a scoring process may see millions of pairs
            self._cache.clear()
        todo: dict[str, list[str]] = {}
        for q, pid in keys:
            if (q, pid) not in self._cache:
                todo.setdefault(q, []).append(pid)
        if len(todo) > 1:  # embed every new product in one batch, not one query's products at a time
            self.builder.warm(list(dict.fromkeys(p for pids in todo.values() for p in pids)))
        # every new query embedded in one batch too (one encoder call per query was a third of scoring time)
        qvecs = self.builder.encoder.encode_queries(list(todo)) if len(todo) > 1 else [None] * len(todo)
        for (q, pids), qv in zip(todo.items(), qvecs):
            pids = list(dict.fromkeys(pids))
            dense, _, _ = self.builder.parts(q, pids, q=qv)
            self._cache.update({(q, pid): row for pid, row in zip(pids, dense)})
        return np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, len(self.names)), np.float32)

    def _columns(self, queries: Sequence[str], products: Sequence[Mapping], extra) -> np.ndarray:
        """The pair's dense features, then the ``extra`` columns (n, len(self.extra)) when the prior has any."""
        X = self.features(queries, products)
        if not self.extra:
            return X
        extra = np.asarray(extra, np.float32).reshape(len(X), -1) if extra is not None else None
        if extra is None or extra.shape[1] != len(self.extra):
            raise InvalidInputError(f"this feature prior needs its extra columns {self.extra} for every pair")
        return np.column_stack([X, extra])

    def fit(self, queries: Sequence[str], products: Sequence[Mapping], levels: Sequence[int], extra=None) -> None:
        """Standardise and warm-start on the pairs (``extra``: the values of the prior's extra columns, (n, k))."""
        import torch

        self.mean, self.std, lr = level_regression(self._columns(queries, products, extra), levels)
        W, b = np.zeros((5, len(self.mean))), np.full(5, -5.0)
        if len(lr.classes_) == 2:  # binary: sklearn keeps one row for the second class
            W[lr.classes_[1]], b[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
            b[lr.classes_[0]] = 0.0
        else:
            W[lr.classes_], b[lr.classes_] = lr.coef_, lr.intercept_
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(W, dtype=torch.float32))
            self.head.bias.copy_(torch.tensor(b, dtype=torch.float32))

    def logits(self, queries: Sequence[str], products: Sequence[Mapping], extra=None):
        import torch

        z = (self._columns(queries, products, extra) - self.mean) / self.std
        return self.head(torch.tensor(z, dtype=torch.float32))

    def load(self, state: dict) -> None:
        import torch

        if state.get("names") and list(state["names"]) != self.names:
            raise InvalidInputError(f"the teacher's feature prior was trained on features {state['names']}, "
                             f"this version computes {self.names}")
        self.mean = np.asarray(state["mean"], np.float32)
        self.std = np.asarray(state["std"], np.float32)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor(state["weight"]))
            self.head.bias.copy_(torch.tensor(state["bias"]))

    def state(self) -> dict:
        return {"kind": self.kind, "names": self.names, "extra": self.extra, "feature_config": asdict(self.builder.cfg),
                "mean": self.mean.tolist(), "std": self.std.tolist(),
                "weight": self.head.weight.detach().cpu().tolist(), "bias": self.head.bias.detach().cpu().tolist()}


PRIOR_C = 0.1  # inverse L2 strength of the prior's logistic regression


def level_regression(X: np.ndarray, levels: Sequence[int]):
    """The feature prior's warm start: ``(mean, std, model)``, a multinomial logistic regression (C ``PRIOR_C``) of
    the level index (level − 1) on the columns of ``X`` standardised by their training ``mean`` and ``std`` (a
    constant column keeps std 1)."""
    from sklearn.linear_model import LogisticRegression

    mean, std = X.mean(0), X.std(0)
    std[std < 1e-6] = 1.0
    return mean, std, LogisticRegression(C=PRIOR_C, max_iter=3000).fit((X - mean) / std, np.asarray(levels) - 1)


def prior_probs(prior: FeaturePrior, products: dict, train: pd.DataFrame, test: pd.DataFrame,
                extra: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Fit ``prior`` on the ``train`` pairs; its level probabilities (n, 5) on the ``test`` pairs (``products``:
    product id → product record; ``extra``: the values of the prior's extra columns on the train and test pairs)."""
    import torch

    x_train, x_test = extra or (None, None)
    prior.fit(train["query"].tolist(), [products[p] for p in train["product_id"]], train["level"].tolist(), x_train)
    with torch.no_grad():
        logits = prior.logits(test["query"].tolist(), [products[p] for p in test["product_id"]], x_test)
    return torch.softmax(logits, -1).numpy()


PRIORS = ("features", "e5-cosine")


def make_prior(kind: str | None, catalog: Catalog | None, state: dict | None = None):
    """The prior named ``kind`` (``features``, ``e5-cosine``, or None for none), loaded from ``state``."""
    if not kind or kind == "none":
        return None
    if kind == "features":
        return FeaturePrior(catalog, state)
    if kind == "e5-cosine":
        prior = CosinePrior()
        if state:
            prior.load(state)
        return prior
    raise InvalidInputError(f"unknown prior {kind!r}; use one of {', '.join(PRIORS)} or none")
