"""Flags: a rater marks a task they were given (broken image, ambiguous query, foreign language, unsure, other)
with an optional comment; a researcher or admin resolves it.

A flag on a grade task names its pair; while it is open, the raters' consensus leaves that pair out
(``drop_flagged_pairs``, called by ``core.campaigns.consensus.labels_in_force``): the pair falls back to a gold or
imported label when it has one, else it has no label in force until the flag is resolved. A side-by-side task's
flag names its query only and is listed for researchers; the win rates still count its answer.

Storage (``db.models.Flag``): a flag row is never deleted and its reason and comment never change; resolving it
fills ``resolved_at``, ``resolved_by`` and ``resolution`` once. Writes check the acting user in the write's
transaction: a flag needs a rater of the campaign who was given the task (``task_in_view``, the check answers
get too), a resolution a staff account (``acting_staff``).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from core.campaigns.admin import campaign_row
from core.campaigns.assignment import now_utc, task_in_view, writing
from core.campaigns.lifecycle import acting_staff
from core.errors import CampaignError
from core.store.labels import check_as_of
from core.store.session import session_scope
from db.models import FLAG_REASONS, Campaign, Flag, Product, Query, Task

REASONS = FLAG_REASONS
REASON_NAMES = {"broken_image": "Broken image", "ambiguous_query": "Ambiguous query",
                "foreign_language": "Foreign language", "unsure": "Unsure", "other": "Other"}
MAX_COMMENT = 1000
COLUMNS = ["flag_id", "campaign", "kind", "task_id", "query_id", "query", "product_id", "rater", "reason", "comment",
           "created_at", "resolved_at", "resolved_by", "resolution"]


def flag_task(assignment_id: int, rater, reason: str, comment: str | None = None, *, url: str | None = None,
              now: datetime | None = None) -> int:
    """Flag the task of the rater's assignment (held or already answered); returns the flag's id.

    Args:
        assignment_id: ``TaskView.assignment_id`` of the task in view.
        rater: the acting rater (a name or the signed-in ``SessionUser``), checked as ``acting_rater`` does.
        reason: one of ``REASONS``.
        comment: free text, at most ``MAX_COMMENT`` characters (blank: none).

    Raises:
        CampaignError: an unknown reason or a comment too long; AssignmentError: not this rater's assignment;
        CampaignNotActiveError: the campaign is closed or archived.
    """
    if reason not in REASONS:
        raise CampaignError(f"reason must be one of {', '.join(REASONS)}; got {reason!r}")
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        raise CampaignError(f"a flag's comment must be at most {MAX_COMMENT:,} characters; got {len(comment):,}")
    now = now_utc(now)
    with writing(url) as s:
        _, task, _, _, name = task_in_view(s, assignment_id, rater, missing="flag the task in view",
                                           doing="takes no more flags")
        flag = Flag(task_id=task.id, query_pk=task.query_pk, product_pk=task.product_pk, rater=name, reason=reason,
                    comment=comment, created_at=now)
        s.add(flag)
        s.flush()
        return flag.id


def resolve_flag(flag_id: int, resolution: str | None = None, *, actor=None, url: str | None = None,
                 now: datetime | None = None) -> None:
    """Resolve an open flag (a researcher or admin; ``actor=None`` is the shell): its pair votes again.

    Raises:
        CampaignError: no such flag, it was resolved already (by whom and when), or a resolution note longer than
            ``MAX_COMMENT`` characters.
        NotPermittedError: the actor may not manage campaigns.
    """
    resolution = (resolution or "").strip() or None
    if resolution and len(resolution) > MAX_COMMENT:
        raise CampaignError(f"a flag's resolution note must be at most {MAX_COMMENT:,} characters; "
                            f"got {len(resolution):,}")
    now = now_utc(now)
    with writing(url) as s:
        name = acting_staff(s, actor)
        if not 0 < flag_id < 2**63:  # no id, and out of SQLite's range
            raise CampaignError(f"no flag {flag_id}")
        done = s.execute(update(Flag).where(Flag.id == flag_id, Flag.resolved_at.is_(None))
                         .values(resolved_at=now, resolved_by=name or "shell", resolution=resolution))
        if done.rowcount != 1:
            flag = s.get(Flag, flag_id)
            if flag is None:
                raise CampaignError(f"no flag {flag_id}")
            raise CampaignError(f"flag {flag_id} was resolved already by {flag.resolved_by} at "
                                f"{flag.resolved_at:%Y-%m-%d %H:%M} UTC")


def list_flags(url: str | None = None, *, campaign: str | int | None = None,
               include_resolved: bool = False) -> pd.DataFrame:
    """Flags, oldest first (``COLUMNS``): open ones only by default; one campaign's with ``campaign``."""
    stmt = (select(Flag.id, Campaign.name, Task.kind, Flag.task_id, Query.query_id, Query.text, Product.product_id,
                   Flag.rater, Flag.reason, Flag.comment, Flag.created_at, Flag.resolved_at, Flag.resolved_by,
                   Flag.resolution)
            .join(Task, Task.id == Flag.task_id).join(Campaign, Campaign.id == Task.campaign_id)
            .join(Query, Query.id == Flag.query_pk).join(Product, Product.id == Flag.product_pk, isouter=True)
            .order_by(Flag.id))
    if not include_resolved:
        stmt = stmt.where(Flag.resolved_at.is_(None))
    with session_scope(url) as s:
        if campaign is not None:
            stmt = stmt.where(Campaign.id == campaign_row(s, campaign).id)
        rows = s.execute(stmt).all()
    return pd.DataFrame(rows, columns=COLUMNS)


def open_flags(url: str | None = None, *, campaign: str | int | None = None) -> pd.DataFrame:
    """The flags not yet resolved, oldest first: flag_id, campaign, kind, task_id, query_id, query, product_id (None
    for a side-by-side task), rater, reason, comment, created_at (and the empty resolution columns)."""
    return list_flags(url, campaign=campaign)


def _open_pairs(s: Session, as_of: datetime | None = None) -> pd.DataFrame:
    """The pairs of the grade-task flags open now, or (``as_of``) open at that time: raised at or before it and
    not resolved by then."""
    if as_of is None:
        stmt = select(Flag.query_pk, Flag.product_pk).where(Flag.resolved_at.is_(None), Flag.product_pk.is_not(None))
    else:
        as_of = check_as_of(as_of)
        stmt = select(Flag.query_pk, Flag.product_pk).where(
            Flag.product_pk.is_not(None), Flag.created_at <= as_of,
            or_(Flag.resolved_at.is_(None), Flag.resolved_at > as_of))
    return pd.DataFrame(s.execute(stmt).all(), columns=["query_pk", "product_pk"])


def flagged_pairs(url: str | None = None) -> pd.DataFrame:
    """The pairs with an open flag (grade tasks), each once: query_pk, product_pk, query_id, product_id, n_flags."""
    with session_scope(url) as s:
        pairs = _open_pairs(s)
        ids = pd.DataFrame(s.execute(select(Query.id, Query.query_id, Product.id, Product.product_id)
                                     .join(Flag, Flag.query_pk == Query.id).join(Product, Product.id == Flag.product_pk)
                                     .where(Flag.resolved_at.is_(None)).distinct()).all(),
                           columns=["query_pk", "query_id", "product_pk", "product_id"])
    counts = pairs.groupby(["query_pk", "product_pk"]).size().rename("n_flags").reset_index()
    out = counts.merge(ids, on=["query_pk", "product_pk"])
    return out[["query_pk", "product_pk", "query_id", "product_id", "n_flags"]].astype(
        {"query_pk": "int64", "product_pk": "int64", "n_flags": "int64"})


def drop_flagged_pairs(s: Session, ratings: pd.DataFrame, *, as_of: datetime | None = None) -> pd.DataFrame:
    """``ratings`` (columns query_pk, product_pk, ...) without the pairs that have an open flag (at ``as_of``,
    timezone-aware; default now)."""
    pairs = _open_pairs(s, as_of)
    if pairs.empty or ratings.empty:
        return ratings
    keys = set(zip(pairs["query_pk"].astype(int), pairs["product_pk"].astype(int)))
    hit = [(int(q), int(p)) in keys for q, p in zip(ratings["query_pk"], ratings["product_pk"])]
    return ratings[~pd.Series(hit, index=ratings.index, dtype=bool)]
