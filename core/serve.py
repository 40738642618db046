"""Real-time ranking with the student: ``rank(query, product_ids) -> scores``.

The student, its features and the product side (token matrices, engagement columns, product
embeddings) are loaded once per process and store (``core.cache``); a call embeds the query, scores
BM25 over the catalog and runs one small numpy MLP over the candidates. No torch, no transformers.

Example::

    from core.serve import rank, warm
    warm()                                              # optional: embed every product now
    scores = rank("30 inch ceiling fan without light", ["B07...", "B08..."])
    best_first = sorted(zip(ids, scores), key=lambda x: -x[1])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.models.base import Ranked
from core.text.queries import clean_query


def _student(model: str, url: str | None):
    from core.cache import get_scorer
    return get_scorer(model, url)


_WARM_QUERIES = ("red running shoes size 10 for men", "zapatillas de mujer", "kaffeemaschine mit mahlwerk",
                 "chaussures de course", "30 inch ceiling fan without light")


def warm(model: str = "student", url: str | None = None) -> None:
    """Load the student and compute the whole catalog's product side now, so the first call is fast
    (product embeddings, token postings, and the language detector's lazily loaded models)."""
    student = _student(model, url)
    student.features.warm()
    ids = list(student.catalog.ids[:10])
    for q in _WARM_QUERIES:
        student.score(q, ids)


def rank(query: str, product_ids: Sequence[str], *, model: str = "student", url: str | None = None) -> np.ndarray:
    """Scores (expected level, higher is better) of ``product_ids`` for ``query``, in input order.

    Raises:
        EmptyQueryError: the query is empty or only whitespace.
        UnknownProductError: some product ids are not in the catalog (the message names them).
    """
    query = clean_query(query)
    product_ids = list(product_ids)
    return _student(model, url).score(query, product_ids)


def ranked(query: str, product_ids: Sequence[str], *, top_k: int | None = None, model: str = "student",
           url: str | None = None) -> Ranked:
    """``product_ids`` sorted best first (ties keep input order), optionally cut to ``top_k`` (``Scorer.rank``)."""
    return _student(model, url).rank(clean_query(query), list(product_ids), top_k)
