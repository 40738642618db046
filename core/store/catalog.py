"""The catalog read from the store, and its version (which changes whenever products are added)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from core.catalog import FIELDS, Catalog
from core.store.session import session_scope
from db.models import Product


def load_catalog(url: str | None = None) -> Catalog:
    """Every product of the store as a ``Catalog`` stamped with ``catalog_version``."""
    with session_scope(url) as s:
        rows = s.execute(select(*[getattr(Product, f) for f in FIELDS])).all()
        version = catalog_version(url, s)
    cat = Catalog.from_frame(pd.DataFrame(rows, columns=list(FIELDS)))
    return Catalog(cat.products, version)


def catalog_version(url: str | None = None, session=None) -> tuple:
    """A cheap fingerprint (count, max id) that changes whenever products are added."""
    if session is None:
        with session_scope(url) as s:
            return catalog_version(url, s)
    return tuple(session.execute(select(func.count(Product.id), func.max(Product.id))).one())
