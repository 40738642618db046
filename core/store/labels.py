"""The labels in force: the one query every layer above shares (imports, consensus, sampling, analytics).

"In force as of T" (``as_of``): only rows created at or before T count, so a label that a later row supersedes is
still in force at T when that later row was created after T. Imported labels carry their import's time
(``core.ingest.judgments``), a rater's label the time it was submitted.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import InvalidInputError
from db.models import Label


def check_as_of(as_of: datetime | None) -> datetime | None:
    """``as_of`` in UTC (None stays None, meaning now).

    Raises:
        InvalidInputError: a naive datetime (no time zone: which day's end would it be?).
    """
    if as_of is None:
        return None
    if not isinstance(as_of, datetime) or as_of.tzinfo is None or as_of.utcoffset() is None:
        raise InvalidInputError(f"as_of must be a timezone-aware datetime, e.g. datetime(2026, 1, 5, 23, 59, "
                                f"tzinfo=timezone.utc); got {as_of!r}")
    return as_of.astimezone(timezone.utc)


def current_labels(s: Session, source: str | None = None, *, as_of: datetime | None = None) -> pd.DataFrame:
    """The labels in force: each not superseded by a later one; columns id, query_pk, product_pk, rater, level, source.

    Retractions (an undo: level NULL) hide the label they supersede and are not returned themselves. With
    ``as_of`` (timezone-aware), the labels in force at that time: rows created after it are ignored.
    """
    stmt = select(Label.id, Label.query_pk, Label.product_pk, Label.rater, Label.level, Label.source,
                  Label.supersedes_id)
    if source is not None:
        stmt = stmt.where(Label.source == source)
    if as_of is not None:
        stmt = stmt.where(Label.created_at <= check_as_of(as_of))
    df = pd.DataFrame(s.execute(stmt).all(), columns=["id", "query_pk", "product_pk", "rater", "level", "source",
                                                      "supersedes_id"])
    df = df[~df["id"].isin(set(df["supersedes_id"].dropna().astype(int)))]
    df = df[df["level"].notna()].drop(columns="supersedes_id")
    df["rater"] = df["rater"].fillna("").astype(object)
    return df.astype({"id": "int64", "query_pk": "int64", "product_pk": "int64", "level": "int64"})
