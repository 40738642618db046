"""The raw record: every label row and side-by-side answer row as stored, with its rater and time.

Labels and answers are append-only (an undo or a change is a new row that supersedes the old one), so this is
the whole history, for audits and for analyses the labels in force (``core.campaigns.consensus``) flatten away.
Each row says whether it is still in force.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import select

from core.campaigns.admin import campaign_row
from core.store.session import session_scope
from db.models import Campaign, Comparison, Label, Product, Query, Task

RAW_LABEL_COLUMNS = ["label_id", "query_id", "query", "language", "product_id", "level", "rater", "source",
                     "campaign", "task_id", "gold_task", "created_at", "seconds_spent", "supersedes_id", "in_force"]
RAW_ANSWER_COLUMNS = ["answer_id", "query_id", "query", "language", "campaign", "task_id", "rater", "answer",
                      "model_a", "model_b", "reason", "created_at", "seconds_spent", "supersedes_id", "retracted",
                      "in_force"]


def raw_labels(url: str | None = None, campaign: str | int | None = None) -> pd.DataFrame:
    """Every label row (imports, gold, raters; undo rows too), oldest first; one campaign's only when given.

    Columns ``RAW_LABEL_COLUMNS``: ``level`` is empty on an undo row (a retraction); ``in_force`` is true for the
    rows no later row supersedes (an undo row never is); ``created_at`` is UTC; ``campaign`` and ``task_id``
    are empty for imported labels.
    """
    stmt = (select(Label.id, Query.query_id, Query.text, Query.language, Product.product_id, Label.level, Label.rater,
                   Label.source, Campaign.name, Label.task_id, Task.is_gold, Label.created_at, Label.seconds_spent,
                   Label.supersedes_id)
            .join(Query, Query.id == Label.query_pk).join(Product, Product.id == Label.product_pk)
            .outerjoin(Task, Task.id == Label.task_id).outerjoin(Campaign, Campaign.id == Task.campaign_id)
            .order_by(Label.id))
    with session_scope(url) as s:
        if campaign is not None:
            stmt = stmt.where(Task.campaign_id == campaign_row(s, campaign).id)
        rows = s.execute(stmt).all()
    df = pd.DataFrame(rows, columns=RAW_LABEL_COLUMNS[:-1])
    df["in_force"] = ~df["label_id"].isin(set(df["supersedes_id"].dropna().astype(int))) & df["level"].notna()
    df["gold_task"] = df["gold_task"].astype("boolean")
    return _typed(df, ["level", "task_id", "supersedes_id"])


def raw_answers(url: str | None = None, campaign: str | int | None = None) -> pd.DataFrame:
    """Every side-by-side answer row (undo rows too: ``retracted``), oldest first; one campaign's only when given.

    Columns ``RAW_ANSWER_COLUMNS``; ``model_a``/``model_b`` are the models the rater saw as A and B (revealed here,
    after the fact); ``in_force`` as in ``raw_labels``.
    """
    stmt = (select(Comparison.id, Query.query_id, Query.text, Query.language, Campaign.name, Comparison.task_id,
                   Comparison.rater, Comparison.answer, Comparison.model_a, Comparison.model_b, Comparison.reason,
                   Comparison.created_at, Comparison.seconds_spent, Comparison.supersedes_id, Comparison.retracted)
            .join(Query, Query.id == Comparison.query_pk).outerjoin(Task, Task.id == Comparison.task_id)
            .outerjoin(Campaign, Campaign.id == Task.campaign_id).order_by(Comparison.id))
    with session_scope(url) as s:
        if campaign is not None:
            stmt = stmt.where(Task.campaign_id == campaign_row(s, campaign).id)
        rows = s.execute(stmt).all()
    df = pd.DataFrame(rows, columns=RAW_ANSWER_COLUMNS[:-1])
    df["retracted"] = df["retracted"].astype(bool)
    df["in_force"] = ~df["answer_id"].isin(set(df["supersedes_id"].dropna().astype(int))) & ~df["retracted"]
    return _typed(df, ["task_id", "supersedes_id"])


def _typed(df: pd.DataFrame, nullable_ints: list[str]) -> pd.DataFrame:
    """Nullable integers stay integers (not floats), times are UTC (SQLite hands them back naive)."""
    df = df.astype({c: "Int64" for c in nullable_ints})
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["in_force"] = df["in_force"].astype(bool)
    return df.reset_index(drop=True)
