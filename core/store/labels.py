"""The labels in force: the one query every layer above shares (imports, consensus, sampling, analytics)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Label


def current_labels(s: Session, source: str | None = None) -> pd.DataFrame:
    """The labels in force: each not superseded by a later one; columns id, query_pk, product_pk, rater, level, source.

    Retractions (an undo: level NULL) hide the label they supersede and are not returned themselves.
    """
    stmt = select(Label.id, Label.query_pk, Label.product_pk, Label.rater, Label.level, Label.source,
                  Label.supersedes_id)
    if source is not None:
        stmt = stmt.where(Label.source == source)
    df = pd.DataFrame(s.execute(stmt).all(), columns=["id", "query_pk", "product_pk", "rater", "level", "source",
                                                      "supersedes_id"])
    df = df[~df["id"].isin(set(df["supersedes_id"].dropna().astype(int)))]
    df = df[df["level"].notna()].drop(columns="supersedes_id")
    df["rater"] = df["rater"].fillna("").astype(object)
    return df.astype({"id": "int64", "query_pk": "int64", "product_pk": "int64", "level": "int64"})
