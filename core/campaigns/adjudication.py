"""Adjudication: a researcher resolves the pairs whose raters disagree (or that a rater flagged), and the decided
level becomes the pair's label in force.

- ``queue``: pairs whose raters' labels in force (regular tasks; gold tasks measure raters and are left out) span
  at least ``min_range`` levels (max − min), and pairs with an open flag (``core.campaigns.flags``), most
  disagreeing first; decided pairs only with ``include_decided``.
- ``pair_labels`` / ``pair_flags``: every rater's label of one pair (gold tasks marked) and its flags with comments.
- ``decide``: stores the decision as a ``Label`` with source ``adjudicated``, the researcher as rater and no task.
  A pair holds one chain of decisions: a second decision (by anyone) supersedes the live one, so the store's
  unique indexes (one root per pair, source and rater among task-less labels; a label superseded once) keep it
  from forking; a lost race is a ``LabelChangedError``. Deciding resolves the pair's open flags in the same
  transaction (resolution "adjudicated: level N"). ``withdraw`` retracts the live decision (a row with level NULL,
  like an undo); the flags stay resolved (a flag's resolution is written once). ``core.campaigns.consensus.labels_in_force`` prefers the decision over every other label.

Writes check the acting user in their transaction: an active staff account (``acting_staff``) whose session, for a
signed-in ``SessionUser``, has not ended. The shell (``actor=None``) cannot decide: a decision needs a name.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from core.campaigns.assignment import PRODUCT_FIELDS, now_utc, writing
from core.campaigns.consensus import ADJUDICATED, store_ratings
from core.campaigns.flags import flagged_pairs, list_flags
from core.campaigns.lifecycle import acting_staff
from core.errors import CampaignError, LabelChangedError, LevelOutOfRangeError, NotPermittedError
from core.metrics.agreement import lower_median
from core.store.session import session_scope
from db.models import Campaign, Flag, Label, Product, Query, Task

QUEUE_COLUMNS = ["query_pk", "product_pk", "query_id", "query", "language", "product_id", "title", "task_id",
                 "n_raters", "levels", "min_level", "max_level", "level_range", "median_level", "n_flags",
                 "decided_level", "decided_by", "decided_at"]


def queue(url: str | None = None, *, min_range: int = 2, include_flagged: bool = True,
          include_decided: bool = False, campaign: str | int | None = None) -> pd.DataFrame:
    """The pairs to adjudicate (``QUEUE_COLUMNS``), flagged and most disagreeing first.

    ``levels`` reads "ann 4 · bob 1"; ``median_level`` is the raters' lower median; ``task_id`` is the pair's latest
    task (the page's keys name it); ``decided_*`` are empty until a decision is in force.
    """
    with session_scope(url) as s:
        ratings = store_ratings(s, campaign)
        ratings = ratings[~ratings["is_gold"]]
        decided = decisions(s)
    flagged = flagged_pairs(url) if include_flagged else pd.DataFrame(columns=["query_pk", "product_pk", "n_flags"])
    pairs = _disagreement(ratings)
    pairs["level_range"] = pairs["max_level"] - pairs["min_level"]
    flags = flagged[["query_pk", "product_pk", "n_flags"]]
    if campaign is not None and not flags.empty:  # flagged pairs of the campaign's tasks only
        keys = set(zip(ratings["query_pk"], ratings["product_pk"]))
        flags = flags[[k in keys for k in zip(flags["query_pk"], flags["product_pk"])]]
    out = pairs.merge(flags, on=["query_pk", "product_pk"], how="outer")
    out["n_flags"] = out["n_flags"].fillna(0).astype("int64")
    out = out[(out["level_range"] >= min_range) | (out["n_flags"] > 0)]
    out = out.merge(decided, on=["query_pk", "product_pk"], how="left")
    if not include_decided:
        out = out[out["decided_level"].isna()]
    if out.empty:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    out = out.merge(_names(url, out), on=["query_pk", "product_pk"])
    out["task_id"] = out["task_id"].fillna(out["flag_task"])
    out = out.sort_values(["n_flags", "level_range", "query", "product_id"], ascending=[False, False, True, True],
                          na_position="last")
    out = out.astype({"query_pk": "int64", "product_pk": "int64", "task_id": "int64", "n_raters": "Int64",
                      "min_level": "Int64", "max_level": "Int64", "level_range": "Int64", "median_level": "Int64",
                      "decided_level": "Int64"})
    out["levels"] = out["levels"].fillna("")
    return out[QUEUE_COLUMNS].reset_index(drop=True)


def _disagreement(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per rated pair: n_raters, min_level, max_level, task_id (the latest), median_level, levels ("ann 4 · …")."""
    columns = ["query_pk", "product_pk", "n_raters", "min_level", "max_level", "task_id", "median_level", "levels"]
    if ratings.empty:
        return pd.DataFrame(columns=columns)
    by_pair = ratings.sort_values(["rater"]).groupby(["query_pk", "product_pk"])
    levels = {k: " · ".join(f"{r} {lv}" for r, lv in zip(g["rater"], g["level"])) for k, g in by_pair}
    pairs = pd.DataFrame({"n_raters": by_pair.size(), "min_level": by_pair["level"].min(),
                          "max_level": by_pair["level"].max(), "task_id": by_pair["task_id"].max(),
                          "median_level": by_pair["level"].agg(lower_median)}).reset_index()
    pairs["levels"] = [levels[k] for k in zip(pairs["query_pk"], pairs["product_pk"])]
    return pairs[columns]


def _names(url: str | None, pairs: pd.DataFrame) -> pd.DataFrame:
    """Query and product of the pairs, and the latest task with a flag on each (for flagged pairs nobody graded)."""
    qpks, ppks = sorted(set(pairs["query_pk"].astype(int))), sorted(set(pairs["product_pk"].astype(int)))
    with session_scope(url) as s:
        q = pd.DataFrame(s.execute(select(Query.id, Query.query_id, Query.text, Query.language)
                                   .where(Query.id.in_(qpks))).all(), columns=["query_pk", "query_id", "query",
                                                                               "language"])
        p = pd.DataFrame(s.execute(select(Product.id, Product.product_id, Product.title).where(Product.id.in_(ppks)))
                         .all(), columns=["product_pk", "product_id", "title"])
        f = pd.DataFrame(s.execute(select(Flag.query_pk, Flag.product_pk, Flag.task_id)
                                   .where(Flag.query_pk.in_(qpks), Flag.product_pk.in_(ppks))).all(),
                         columns=["query_pk", "product_pk", "flag_task"])
    f = f.groupby(["query_pk", "product_pk"], as_index=False)["flag_task"].max()
    keys = pairs[["query_pk", "product_pk"]].astype("int64")
    return keys.merge(q, on="query_pk").merge(p, on="product_pk").merge(f, on=["query_pk", "product_pk"], how="left")


def decisions(s: Session) -> pd.DataFrame:
    """The decision in force per pair: query_pk, product_pk, decided_level, decided_by, decided_at (the latest live
    head, should a race ever have left two chains)."""
    later = aliased(Label)
    rows = s.execute(select(Label.id, Label.query_pk, Label.product_pk, Label.level, Label.rater, Label.created_at)
                     .where(Label.source == ADJUDICATED, Label.task_id.is_(None),
                            ~select(later.id).where(later.supersedes_id == Label.id).exists())).all()
    df = pd.DataFrame(rows, columns=["id", "query_pk", "product_pk", "decided_level", "decided_by", "decided_at"])
    df = df.sort_values("id").drop_duplicates(["query_pk", "product_pk"], keep="last")
    df = df[df["decided_level"].notna()]  # a withdrawn decision leaves the pair undecided
    return df.drop(columns="id").astype({"query_pk": "int64", "product_pk": "int64"}).reset_index(drop=True)


def pair_view(query_pk: int, product_pk: int, *, url: str | None = None) -> dict:
    """The pair as the page shows it: ``{"query", "language", "query_id", "product"}``."""
    with session_scope(url) as s:
        q, p = s.get(Query, query_pk), s.get(Product, product_pk)
        if q is None or p is None:
            raise CampaignError(f"no pair ({query_pk}, {product_pk})")
        return {"query": q.text, "language": q.language, "query_id": q.query_id,
                "product": {f: getattr(p, f) for f in PRODUCT_FIELDS}}


def pair_labels(query_pk: int, product_pk: int, *, url: str | None = None) -> pd.DataFrame:
    """Every rater's label in force on the pair: rater, level, campaign, gold_task, created_at, seconds_spent."""
    later = aliased(Label)
    with session_scope(url) as s:
        rows = s.execute(select(Label.rater, Label.level, Campaign.name, Task.is_gold, Label.created_at,
                                Label.seconds_spent)
                         .join(Task, Task.id == Label.task_id).join(Campaign, Campaign.id == Task.campaign_id)
                         .where(Label.query_pk == query_pk, Label.product_pk == product_pk, Label.source == "human",
                                Label.level.is_not(None), ~select(later.id).where(later.supersedes_id == Label.id)
                                .exists())
                         .order_by(Label.created_at, Label.id)).all()
    df = pd.DataFrame(rows, columns=["rater", "level", "campaign", "gold_task", "created_at", "seconds_spent"])
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    return df


def pair_flags(query_id: str, product_id: str, *, url: str | None = None) -> pd.DataFrame:
    """The pair's flags, open and resolved, oldest first (``core.campaigns.flags.COLUMNS``): the raters' comments."""
    flags = list_flags(url, include_resolved=True)
    return flags[(flags["query_id"] == query_id) & (flags["product_id"] == product_id)].reset_index(drop=True)


def decide(query_pk: int, product_pk: int, level: int, actor, *, url: str | None = None,
           now: datetime | None = None) -> int:
    """Make ``level`` the pair's label in force (source ``adjudicated``); returns the decision's label id.

    The same level from the same researcher as the decision in force writes nothing.

    Raises:
        LevelOutOfRangeError: ``level`` is not an integer 1–5.
        NotPermittedError: no actor, or one that is not an active researcher or admin.
        SessionEndedError: the signed-in session has ended.
        CampaignError: no such pair.
        LabelChangedError: another decision on the pair was saved at the same moment; reload and decide again.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise LevelOutOfRangeError(f"level must be an integer from 1 (Highly irrelevant) to 5 (Highly relevant); "
                                   f"got {level!r}")
    return _write(query_pk, product_pk, level, actor, url, now_utc(now))


def withdraw(query_pk: int, product_pk: int, actor, *, url: str | None = None, now: datetime | None = None) -> int:
    """Retract the pair's decision in force (a row with level NULL superseding it); the raters' consensus is the
    label in force again. Returns the retraction's id. Raises ``CampaignError`` when no decision is in force."""
    return _write(query_pk, product_pk, None, actor, url, now_utc(now))


def _write(query_pk: int, product_pk: int, level: int | None, actor, url: str | None, now: datetime) -> int:
    try:
        with writing(url) as s:
            name = acting_staff(s, actor)
            if name is None:
                raise NotPermittedError("a decision needs the researcher's name: pass actor=NAME")
            if s.scalar(select(Query.id).where(Query.id == query_pk).with_for_update()) is None or \
                    s.get(Product, product_pk) is None:  # the query row's lock queues decisions on its pairs
                raise CampaignError(f"no pair ({query_pk}, {product_pk})")
            head = _live_head(s, query_pk, product_pk)
            if level is None and (head is None or head.level is None):
                raise CampaignError("no decision in force on this pair: nothing to withdraw")
            if head is not None and head.level == level and head.rater == name:
                return head.id
            label = Label(query_pk=query_pk, product_pk=product_pk, level=level, rater=name, source=ADJUDICATED,
                          task_id=None, supersedes_id=head.id if head is not None else None, created_at=now)
            s.add(label)
            if level is not None:
                s.execute(update(Flag).where(Flag.query_pk == query_pk, Flag.product_pk == product_pk,
                                             Flag.resolved_at.is_(None))
                          .values(resolved_at=now, resolved_by=name, resolution=f"adjudicated: level {level}"))
            s.flush()
            return label.id
    except IntegrityError:
        raise LabelChangedError("another decision on this pair was saved at the same moment; reload the queue and "
                                "decide again") from None


def _live_head(s: Session, query_pk: int, product_pk: int) -> Label | None:
    """The pair's latest decision row that nothing supersedes (a withdrawal row too), or None."""
    later = aliased(Label)
    return s.scalar(select(Label).where(Label.query_pk == query_pk, Label.product_pk == product_pk,
                                        Label.source == ADJUDICATED, Label.task_id.is_(None),
                                        ~select(later.id).where(later.supersedes_id == Label.id).exists())
                    .order_by(Label.id.desc()).limit(1))
