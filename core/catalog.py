"""The product catalog as an in-memory table (``core.store.catalog.load_catalog`` reads it from the store)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from core.errors import UnknownProductError

FIELDS = ("product_id", "title", "description", "bullet_points", "brand", "color", "category", "image", "caption",
          "price", "rating", "rating_count", "top_queries", "language")


@dataclass(frozen=True)
class Catalog:
    """Products indexed by ``product_id`` (one row each, DESIGN.md fields as columns)."""

    products: pd.DataFrame
    version: tuple = ()

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> Catalog:
        df = df.copy()
        for f in FIELDS:
            if f not in df.columns:
                df[f] = None
        return cls(df.set_index("product_id", drop=False)[list(FIELDS)])

    def __len__(self) -> int:
        return len(self.products)

    @property
    def ids(self) -> pd.Index:
        return self.products.index

    def positions(self, product_ids: Sequence[str]):
        """Row positions of ``product_ids``; raises UnknownProductError naming the unknown ones."""
        pos = self.products.index.get_indexer(list(product_ids))
        if (pos < 0).any():
            unknown = [p for p, i in zip(product_ids, pos) if i < 0]
            raise UnknownProductError(f"{len(unknown)} unknown product id(s): {', '.join(map(repr, unknown[:10]))}"
                                      f"{' …' if len(unknown) > 10 else ''}; import them with "
                                      f"`relevance import products FILE` first")
        return pos

    def rows(self, product_ids: Sequence[str]) -> pd.DataFrame:
        return self.products.iloc[self.positions(product_ids)]


def text_column(frame: pd.DataFrame, name: str) -> pd.Series:
    """A column as cleaned strings ('' for missing, whitespace runs collapsed), whatever the file format gave."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    col = frame[name]
    return col.where(col.notna(), "").astype(str).str.replace(r"\s+", " ", regex=True).str.strip()
