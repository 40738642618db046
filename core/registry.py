"""Scorers by short name: ``create("bm25")``. Later modules register the teacher and students.

Every scorer ranks products for a query through one interface (``Scorer``); 5-class models also give
level probabilities, which ``evaluate`` turns into 5-class accuracy against human labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from core.errors import UnknownModelError


@runtime_checkable
class Scorer(Protocol):
    name: str

    def score(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        """Relevance scores of ``product_ids`` for ``query``, higher is better (shape ``(n,)``)."""


@runtime_checkable
class LevelScorer(Scorer, Protocol):
    def predict_proba(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        """Probabilities of levels 1…5, shape ``(n, 5)``."""


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., Scorer]
    description: str
    needs_catalog: bool = True


_REGISTRY: dict[str, Entry] = {}


def register(name: str, description: str, *, needs_catalog: bool = True):
    """Decorator: register a factory ``f(catalog=..., **kwargs) -> Scorer`` under ``name``."""
    def deco(factory):
        _REGISTRY[name] = Entry(name, factory, description, needs_catalog)
        return factory
    return deco


def _load_builtin() -> None:
    import core.rankers  # noqa: F401  (registers bm25, random)
    import core.teacher  # noqa: F401  (registers teacher)
    import core.student  # noqa: F401  (registers student, student-human, student-mixed)


def available() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def entry(name: str) -> Entry:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY))}") from None
