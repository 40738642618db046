"""Counts of what the store holds, for the app's overview and the CLI."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import func, select

from db.models import Label, Product, Query, User
from db.session import session_scope


def overview(url: str | None = None) -> dict:
    """Totals and a per-language table of queries, labelled queries and labels in force."""
    with session_scope(url) as s:
        totals = {
            "products": s.scalar(select(func.count(Product.id))),
            "queries": s.scalar(select(func.count(Query.id))),
            "labels": s.scalar(select(func.count(Label.id))),
            "users": s.scalar(select(func.count(User.id))),
        }
        q = pd.DataFrame(s.execute(select(Query.language, func.count(Query.id)).group_by(Query.language)).all(),
                         columns=["language", "queries"])
        lab = pd.DataFrame(s.execute(
            select(Query.language, func.count(func.distinct(Label.query_pk)), func.count(Label.id))
            .join(Query, Query.id == Label.query_pk).where(Label.level.is_not(None)).group_by(Query.language)).all(),
            columns=["language", "labelled queries", "labels"])
    table = q.merge(lab, on="language", how="left").fillna(0)
    table = table.astype({c: "int64" for c in table.columns if c != "language"})
    return {"totals": totals, "by_language": table.sort_values("queries", ascending=False, ignore_index=True)}
