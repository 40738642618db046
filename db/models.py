"""The store's tables as SQLAlchemy 2 typed models.

Labels, side-by-side answers and imports are append-only: nothing in the code updates or deletes
them. An undo is a new label whose ``supersedes_id`` points at the label it retracts (its ``level``
is NULL); a corrected label supersedes the one it corrects. ``current_labels`` in ``db.queries``
resolves the chain. Flags and query notes (``Flag``, ``QueryNote``) are kept the same way: see their docstrings.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (JSON, Boolean, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint, false, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

LEVELS = (1, 2, 3, 4, 5)
ROLES = ("rater", "researcher", "viewer", "admin")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    bullet_points: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(String(256))
    color: Mapped[str | None] = mapped_column(String(256))
    category: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(Text)
    caption: Mapped[str | None] = mapped_column(Text)
    price: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[float | None] = mapped_column(Float)
    rating_count: Mapped[int | None] = mapped_column(Integer)
    top_queries: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Query(Base):
    __tablename__ = "queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    query_id: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QueryLogEntry(Base):
    """One row of an imported query log: how often a query was searched on a date."""

    __tablename__ = "query_log"
    __table_args__ = (UniqueConstraint("query_pk", "date", "source", name="uq_query_log_entry"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    date: Mapped[str] = mapped_column(String(32), default="")
    count: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(128))


def _name_key(context) -> str:
    """``users.name_key`` when an insert does not give one: the name stripped and case-folded."""
    return context.get_current_parameters()["name"].strip().casefold()


class User(Base):
    """An account. ``name_key`` is the name case-folded (unique), so ``Rater4`` and ``rater4`` are one user.

    ``session_version`` grows whenever the account's rights or credentials change (password set or reset,
    role changed, deactivated or reactivated): a session signed in under an older version has ended.
    ``password_reset_at`` is set when an admin resets the password and cleared when the user sets their own.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('rater','researcher','viewer','admin')", name="ck_users_role"),
                      Index("uq_users_name_key", "name_key", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    name_key: Mapped[str] = mapped_column(String(140), default=_name_key)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_reset_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("kind IN ('grade','side_by_side')", name="ck_campaigns_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="grade")
    strategy: Mapped[str] = mapped_column(String(32), default="random")
    languages: Mapped[str | None] = mapped_column(String(200))
    overlap_k: Mapped[int] = mapped_column(Integer, default=1)
    overlap_share: Mapped[float] = mapped_column(Float, default=0.0)
    gold_ratio: Mapped[float] = mapped_column(Float, default=0.0)
    lease_seconds: Mapped[int] = mapped_column(Integer, default=900)
    config: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tasks: Mapped[list[Task]] = relationship(back_populates="campaign")


class CampaignRater(Base):
    __tablename__ = "campaign_raters"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_campaign_open", "campaign_id", "ratings_done"),
                      Index("ix_tasks_campaign_position", "campaign_id", "position"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16), default="grade")
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_pk: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    required_ratings: Mapped[int] = mapped_column(Integer, default=1)
    ratings_done: Mapped[int] = mapped_column(Integer, default=0)
    is_gold: Mapped[bool] = mapped_column(Boolean, default=False)
    gold_level: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    campaign: Mapped[Campaign] = relationship(back_populates="tasks")


class Assignment(Base):
    """One rater's lease on one task; (task, user) is unique, so nobody gets a task twice."""

    __tablename__ = "assignments"
    __table_args__ = (UniqueConstraint("task_id", "user_id", name="uq_assignments_task_user"),
                      Index("ix_assignments_user_status", "user_id", "status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="leased")  # leased|done|skipped|expired
    leased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)  # a skip's reason


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (
        CheckConstraint("level IS NULL OR (level >= 1 AND level <= 5)", name="ck_labels_level"),
        Index("ix_labels_pair", "query_pk", "product_pk"),
        Index("ix_labels_source", "source"),
        Index("ix_labels_task", "task_id"),
        # A chain never forks; an import holds one chain per (query, product, source, rater) (0004).
        Index("uq_labels_supersedes", "supersedes_id", unique=True),
        Index("uq_labels_import_root", "query_pk", "product_pk", "source", text("COALESCE(rater, '')"), unique=True,
              sqlite_where=text("supersedes_id IS NULL AND task_id IS NULL"),
              postgresql_where=text("supersedes_id IS NULL AND task_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_pk: Mapped[int] = mapped_column(ForeignKey("products.id"))
    level: Mapped[int | None] = mapped_column(Integer)
    rater: Mapped[str | None] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(128))  # human | import:<name> | gold
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("labels.id"))
    seconds_spent: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Comparison(Base):
    """A side-by-side answer: which of two rankings (shown as A and B) a rater preferred.

    Append-only like labels: an undo is a new row with ``retracted`` true whose ``supersedes_id`` points
    at the answer it takes back (it repeats that answer, so the CHECK on ``answer`` still holds).
    """

    __tablename__ = "comparisons"
    __table_args__ = (CheckConstraint("answer IN ('A','B','tie')", name="ck_comparisons_answer"),
                      Index("ix_comparisons_task", "task_id"),
                      Index("uq_comparisons_supersedes", "supersedes_id", unique=True))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("tasks.id"))
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    rater: Mapped[str] = mapped_column(String(128))
    model_a: Mapped[str] = mapped_column(String(128))
    model_b: Mapped[str] = mapped_column(String(128))
    answer: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(Text)
    seconds_spent: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("comparisons.id",
                                                                 name="fk_comparisons_supersedes_id"))
    retracted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


FLAG_REASONS = ("broken_image", "ambiguous_query", "foreign_language", "unsure", "other")


class Flag(Base):
    """A rater's flag on a task: a reason from ``FLAG_REASONS`` and an optional comment.

    Append-only like labels: a flag row is never deleted and its reason and comment never change. A researcher's
    resolution fills ``resolved_at``, ``resolved_by`` and ``resolution`` (a note) once, on a flag still open;
    those columns are never cleared or overwritten, so the flag keeps its whole history in one row. An open flag
    on a grade task's pair (``product_pk`` set) keeps that pair out of the raters' consensus until it is
    resolved; a side-by-side task's flag names the query only (``product_pk`` NULL). Flags go with their task
    when an unused campaign is deleted (``ON DELETE CASCADE``).
    """

    __tablename__ = "flags"
    __table_args__ = (CheckConstraint("reason IN ('broken_image','ambiguous_query','foreign_language','unsure',"
                                      "'other')", name="ck_flags_reason"),
                      Index("ix_flags_pair", "query_pk", "product_pk"),
                      Index("ix_flags_open", "resolved_at"),
                      Index("ix_flags_task", "task_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_pk: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    rater: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(Text)


class QueryNote(Base):
    """What a query means (its information need), written by a researcher; raters read it on Rate and Compare.

    Append-only: an edit is a new row, and the query's latest row (highest ``id``) is the note in force; an
    empty ``note`` clears it. Earlier rows are the note's history.
    """

    __tablename__ = "query_notes"
    __table_args__ = (Index("ix_query_notes_query", "query_pk", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Prediction(Base):
    __tablename__ = "predictions"
    __table_args__ = (UniqueConstraint("model", "query_pk", "product_pk", name="uq_predictions_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    query_pk: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_pk: Mapped[int] = mapped_column(ForeignKey("products.id"))
    p1: Mapped[float] = mapped_column(Float)
    p2: Mapped[float] = mapped_column(Float)
    p3: Mapped[float] = mapped_column(Float)
    p4: Mapped[float] = mapped_column(Float)
    p5: Mapped[float] = mapped_column(Float)
    expected: Mapped[float] = mapped_column(Float)
    argmax: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImportRecord(Base):
    """Audit log of imports: what file, what kind, how many rows were new."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    inserted: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
