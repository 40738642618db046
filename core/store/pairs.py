"""Queries and pairs of the store, as plain frames for the workflows (evaluate, score, distill)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.store.labels import current_labels
from core.store.session import session_scope
from db.models import Product, Query


def languages_of(query_ids: list[str], url: str | None = None) -> dict[str, str | None]:
    """The stored language of each known query among ``query_ids`` (unknown ones are absent)."""
    with session_scope(url) as s:
        return dict(s.execute(select(Query.query_id, Query.language).where(Query.query_id.in_(query_ids)))
                    .tuples().all())


def query_texts(url: str | None = None) -> pd.DataFrame:
    """Every stored query (judged and logged): query_id, query."""
    with session_scope(url) as s:
        return pd.DataFrame(s.execute(select(Query.query_id, Query.text)).all(), columns=["query_id", "query"])


def judged_pairs(url: str | None = None) -> pd.DataFrame:
    """Every pair with a label in force in the store: query_id, query, product_id."""
    with session_scope(url) as s:
        cur = current_labels(s)[["query_pk", "product_pk"]].drop_duplicates()
        q = pd.DataFrame(s.execute(select(Query.id, Query.query_id, Query.text)).all(),
                         columns=["query_pk", "query_id", "query"])
        p = pd.DataFrame(s.execute(select(Product.id, Product.product_id)).all(), columns=["product_pk", "product_id"])
    return cur.merge(q, on="query_pk").merge(p, on="product_pk")[["query_id", "query", "product_id"]]
