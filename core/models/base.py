"""One interface for every model: ``Scorer`` (bm25, random, the cosine baselines) and ``LevelScorer``
(teacher, students, stored predictions), which adds level probabilities.

Every scorer has ``score(query, product_ids)`` (higher is better, input order) and
``rank(query, candidates, top_k)`` → ``Ranked`` (best first, ties in input order). A ``LevelScorer``
also has ``predict_proba`` (probabilities of levels 1…5), its ``score`` is the expected level, and
``predict_pairs`` scores many (query, product) pairs at once. Callers check the kind with
``isinstance``, never by probing for methods.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from core.scale import LEVELS


@dataclass(frozen=True)
class Ranked:
    """One ranked list: product ids best first, with their scores."""

    product_ids: tuple[str, ...]
    scores: tuple[float, ...]

    def top_k(self, k: int) -> Ranked:
        return Ranked(self.product_ids[:k], self.scores[:k])


def ranked(product_ids: Sequence[str], scores: np.ndarray, top_k: int | None = None) -> Ranked:
    """``product_ids`` sorted by ``scores``, best first (a stable sort: ties keep input order), cut to ``top_k``."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:top_k]
    return Ranked(tuple(product_ids[i] for i in order), tuple(float(scores[i]) for i in order))


class Scorer(ABC):
    """A model that scores products for a query."""

    name: str = ""

    @abstractmethod
    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        """Relevance scores of ``product_ids`` for ``query``, higher is better (shape ``(n,)``)."""

    def rank(self, query: str, candidates: Sequence[str], top_k: int | None = None) -> Ranked:
        """``candidates`` best first by ``score``, optionally cut to ``top_k``."""
        ids = list(candidates)
        return ranked(ids, self.score(query, ids), top_k)


class LevelScorer(Scorer):
    """A 5-class model: level probabilities, and the expected level as its score."""

    @abstractmethod
    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        """Probabilities of levels 1…5, shape ``(n, 5)``."""

    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        return self.predict_proba(query, product_ids) @ np.asarray(LEVELS, dtype=np.float32)

    def predict_pairs(self, queries: Sequence[str], products: Sequence[Mapping], batch_size: int | None = None,
                      progress: Progress = False) -> np.ndarray:
        """Level probabilities (n, 5) of many pairs; ``products`` are product dicts with ``product_id``.

        ``progress``: a bar (True), or a callback told how many more pairs are done (see ``reporter``).
        This default groups the pairs by query and calls ``predict_proba``; models with a faster bulk
        path (the teacher's length-bucketed batches, the student's one embedding per query) override it.
        """
        out = np.zeros((len(queries), 5), dtype=np.float32)
        groups: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault(q, []).append(i)
        with reporter(progress, len(queries), f"{getattr(self, 'name', type(self).__name__)} scoring") as advance:
            for q, idx in groups.items():
                out[idx] = self.predict_proba(q, [products[i]["product_id"] for i in idx])
                advance(len(idx))
        return out


class CatalogPairScorer(LevelScorer):
    """A level scorer whose real path is the bulk ``predict_pairs`` over product records (the teachers):
    ``predict_proba`` looks the products up in ``self.catalog``."""

    catalog = None

    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        from core.errors import InvalidInputError
        from core.text.queries import clean_query

        if self.catalog is None:
            raise InvalidInputError(f"this {type(self).__name__} has no catalog; pass catalog= or use predict_pairs "
                                    f"with product dicts")
        q = clean_query(query)
        rows = self.catalog.rows(product_ids).to_dict("records")
        return self.predict_pairs([q] * len(rows), rows)


Progress = bool | Callable[[int], None]


@contextmanager
def reporter(progress: Progress, total: int, desc: str) -> Iterator[Callable[[int], None]]:
    """The ``advance(n)`` of a bulk call: a tqdm bar's update when ``progress`` is True, the caller's own
    callback when it is callable (a job's bar over many calls moves with each batch, not each call), else
    nothing."""
    if callable(progress):
        yield progress
        return
    from tqdm.auto import tqdm

    with tqdm(total=total, desc=desc, disable=not progress, leave=False) as bar:
        yield bar.update
