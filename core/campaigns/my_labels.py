"""A rater's own labels: their history (``my_labels``, filtered by ``select_my_labels``) and changing one
(``change_label``), for the **My labels** page.

A change is append-only like an undo (``core.campaigns.assignment.undo_last``): a new ``Label`` with the new level,
the same pair, rater, source and task, supersedes the label in force; nothing is updated or deleted, so the raw
record (``core.campaigns.history.raw_labels``) keeps every level the rater gave. A change has no ``seconds_spent``
(it is not a first look at the item) and leaves the task's ``ratings_done`` as it was. An undo on Rate afterwards
retracts the changed label like any other.

The write checks, in its transaction (the task row locked, as every change to a task's answers is): the label is a
campaign label of the acting rater; the rater's account is active, may rate, is still a rater of the campaign and,
for a signed-in ``SessionUser``, its session has not ended (``acting_rater``); the campaign is active. A chain of
labels never forks (the store's unique index on ``supersedes_id``): the change always supersedes the live head of
the label's chain, and a race that loses to another change is a ``LabelChangedError``.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from core.campaigns.assignment import PRODUCT_FIELDS, acting_rater, not_active, now_utc, writing
from core.errors import CampaignError, LabelChangedError, LevelOutOfRangeError, NotPermittedError
from core.store.session import session_scope
from db.models import Campaign, Label, Product, Query, Task

MY_LABEL_COLUMNS = ["label_id", "campaign", "status", "query", "language", "product_id", "title", "level",
                    "previous_level", "changed", "created_at", "task_id"]


def my_labels(rater, *, url: str | None = None) -> pd.DataFrame:
    """The rater's campaign labels in force (undone ones left out), newest first.

    Columns ``MY_LABEL_COLUMNS``: ``status`` is the campaign's (only an active campaign takes changes);
    ``previous_level`` is the level a change replaced (empty for a first grade) and ``changed`` says whether the
    label is a change; ``created_at`` is UTC. Gold tasks are not marked: raters are not told which tasks are gold.
    """
    name = getattr(rater, "name", rater)
    later = aliased(Label)
    prev = aliased(Label)
    stmt = (select(Label.id, Campaign.name, Campaign.status, Query.text, Query.language, Product.product_id,
                   Product.title, Label.level, prev.level, Label.created_at, Label.task_id)
            .join(Task, Task.id == Label.task_id).join(Campaign, Campaign.id == Task.campaign_id)
            .join(Query, Query.id == Label.query_pk).join(Product, Product.id == Label.product_pk)
            .outerjoin(prev, prev.id == Label.supersedes_id)
            .where(Label.rater == name, Label.source == "human", Label.level.is_not(None),
                   ~exists().where(later.supersedes_id == Label.id))
            .order_by(Label.created_at.desc(), Label.id.desc()))
    with session_scope(url) as s:
        rows = s.execute(stmt).all()
    cols = [c for c in MY_LABEL_COLUMNS if c != "changed"]
    df = pd.DataFrame(rows, columns=cols)
    df["changed"] = df["previous_level"].notna()
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    return df.astype({"label_id": "int64", "level": "int64", "previous_level": "Int64", "task_id": "int64",
                      "changed": bool})[MY_LABEL_COLUMNS]


def select_my_labels(labels: pd.DataFrame, campaign: str | None = None, query: str | None = None) -> pd.DataFrame:
    """``labels`` (from ``my_labels``) of one campaign and/or whose query contains ``query`` (any case)."""
    out = labels
    if campaign:
        out = out[out["campaign"] == campaign]
    if query and query.strip():
        needle = query.strip().casefold()
        out = out[out["query"].map(lambda t: needle in str(t).casefold())]
    return out.reset_index(drop=True)


def label_pair(label_id: int, *, url: str | None = None) -> dict:
    """The pair of a label as the rater saw it: ``{"query", "language", "product"}`` (product fields as on Rate)."""
    with session_scope(url) as s:
        label = s.get(Label, label_id)
        if label is None:
            raise CampaignError(f"no label {label_id}")
        q, p = s.get(Query, label.query_pk), s.get(Product, label.product_pk)
        return {"query": q.text, "language": q.language, "product": {f: getattr(p, f) for f in PRODUCT_FIELDS}}


def change_label(label_id: int, rater, level: int, *, url: str | None = None, now: datetime | None = None) -> int:
    """Give one of the rater's labels a new level; returns the id of the label now in force.

    The new label supersedes the live head of ``label_id``'s chain (so a label changed in another tab meanwhile is
    changed again, never forked). The same level as the one in force writes nothing.

    Raises:
        LevelOutOfRangeError: ``level`` is not an integer 1–5.
        CampaignError: no such label, or not a campaign label.
        NotPermittedError: the label is another rater's.
        RaterNotInCampaignError: the acting account is inactive, cannot rate or is no longer a rater of the campaign.
        SessionEndedError: the signed-in session has ended.
        CampaignNotActiveError: the campaign is paused, closed or archived.
        LabelChangedError: the label was undone, or another change won a race for it; reload and try again.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise LevelOutOfRangeError(f"level must be an integer from 1 (Highly irrelevant) to 5 (Highly relevant); "
                                   f"got {level!r}")
    now = now_utc(now)
    try:
        with writing(url) as s:
            label = s.get(Label, label_id)
            if label is None or label.task_id is None or label.source != "human":
                raise CampaignError(f"no campaign label {label_id}; pick one of your labels on My labels")
            task = s.scalar(select(Task).where(Task.id == label.task_id).with_for_update())
            c = s.get(Campaign, task.campaign_id)
            _, name = acting_rater(s, c, rater)
            if label.rater != name:
                raise NotPermittedError(f"label {label_id} is {label.rater!r}'s, not {name!r}'s; a rater changes only "
                                        f"their own labels")
            if c.status != "active":
                raise not_active(c, "takes no label changes")
            head = live_head(s, label)
            if head.level is None:
                raise LabelChangedError(f"label {label_id} was undone; it is not in force any more (grade the item "
                                        f"again on Rate)")
            if head.level == level:
                return head.id
            new = Label(query_pk=head.query_pk, product_pk=head.product_pk, level=level, rater=name,
                        source=head.source, task_id=head.task_id, supersedes_id=head.id, created_at=now)
            s.add(new)
            s.flush()
            return new.id
    except IntegrityError:
        raise LabelChangedError(f"label {label_id} was changed by another request at the same moment; reload My "
                                f"labels and change the label now in force") from None


def live_head(s: Session, label: Label) -> Label:
    """The last label of ``label``'s chain (``label`` itself when nothing supersedes it); an undo row when undone."""
    while (nxt := s.scalar(select(Label).where(Label.supersedes_id == label.id))) is not None:
        label = nxt
    return label
