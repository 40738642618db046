"""Rating campaigns: create them, hand out tasks to raters, take their answers (the API the rater pages call).

A campaign is a named set of tasks (``CampaignSpec``; sampling in ``core.sampling``). A *grade* task is one
pair rated on the 5-point scale; a *side-by-side* task is one query with two models' rankings shown as A
and B (sides drawn per task, recorded in ``task.payload``), answered A, B or tie.

Assignment rules:

- ``next_task`` is atomic: SQLite runs it in ``BEGIN IMMEDIATE``; PostgreSQL locks the chosen task row
  (``FOR UPDATE SKIP LOCKED``), then re-checks it. Every change to a task's assignments holds that lock.
- A task needing k ratings goes to k different raters (``assignments`` is unique on (task, user)); a slot
  is taken by a submitted rating or a lease that has not expired, so abandoned tasks come back.
- A skipped task never returns to the same rater. ``undo_last`` appends a retraction (a label with level
  NULL, or a comparison marked ``retracted``) and re-leases the task to the rater; nothing is deleted.
- Gold tasks are open to every rater once and are served at ``gold_ratio`` of each rater's tasks (a
  seeded draw per rater and step); they do not count towards progress. ``TaskView`` (what a rater sees)
  carries no gold flag, gold level, or model names.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import case, func, insert, select
from sqlalchemy.orm import Session

from core import config
from core.sampling import KINDS, CampaignError, CampaignSpec, NoPredictionsError, SamplingError, plan_tasks
from db.models import Assignment, Campaign, CampaignRater, Comparison, Label, Product, Query, Task, User
from core.store.session import session_scope
from core.users import RATER_ROLES
from core.errors import (AssignmentError, LevelOutOfRangeError, NothingToUndoError, RaterNotInCampaignError,
                         UnknownCampaignError)

__all__ = ["KINDS", "AssignmentError", "CampaignError", "CampaignInfo", "CampaignSpec", "LevelOutOfRangeError",
           "NoPredictionsError", "NothingToUndoError", "Progress", "RaterNotInCampaignError", "RaterProgress",
           "SamplingError", "TaskView", "UnknownCampaignError", "add_raters", "create_campaign", "get_campaign",
           "list_campaigns", "next_task", "progress", "skip", "submit_comparison", "submit_grade", "undo_last"]
ANSWERS = {"a": "A", "b": "B", "tie": "tie"}
PRODUCT_FIELDS = ("product_id", "title", "description", "bullet_points", "brand", "color", "category", "image",
                  "caption", "price", "rating", "rating_count")
_CLAIM_TRIES = 50







@dataclass(frozen=True)
class CampaignInfo:
    id: int
    name: str
    kind: str
    strategy: str
    languages: tuple[str, ...]
    overlap_k: int
    overlap_share: float
    gold_ratio: float
    lease_seconds: int
    status: str
    raters: tuple[str, ...]
    n_tasks: int
    n_gold: int
    config: dict = field(default_factory=dict)
    created_by: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class TaskView:
    """What a rater is shown: no gold flag, no gold level, no model names (side-by-side lists are A and B)."""

    assignment_id: int
    task_id: int
    campaign: str
    kind: str
    query: str
    language: str
    product: dict | None
    list_a: tuple[dict, ...] = ()
    list_b: tuple[dict, ...] = ()
    lease_expires_at: datetime | None = None


@dataclass(frozen=True)
class RaterProgress:
    rater: str
    done: int
    skipped: int
    leased: int
    gold_done: int
    median_seconds: float | None


@dataclass(frozen=True)
class Progress:
    """Regular tasks and ratings done/required (gold apart), and per-rater counts."""

    campaign: str
    kind: str
    tasks: int
    tasks_complete: int
    ratings_required: int
    ratings_done: int
    gold_tasks: int
    gold_ratings: int
    raters: tuple[RaterProgress, ...]

    @property
    def fraction(self) -> float:
        return self.ratings_done / self.ratings_required if self.ratings_required else 1.0


# ------------------------------------------------------------------------------------------ campaigns

def create_campaign(spec: CampaignSpec, *, url: str | None = None) -> CampaignInfo:
    """Sample the tasks of ``spec`` (``core.sampling``), then store the campaign, its raters and tasks at once."""
    with session_scope(url) as s:
        _check_new(s, spec)
        tasks = plan_tasks(s, spec, url)  # reads and scores outside the write transaction
    with session_scope(url, immediate=True) as s:
        _check_new(s, spec)
        c = Campaign(name=spec.name, kind=spec.kind, strategy=spec.strategy, languages=",".join(spec.languages) or None,
                     overlap_k=spec.overlap_k, overlap_share=spec.overlap_share, gold_ratio=spec.gold_ratio,
                     lease_seconds=spec.lease_seconds, config=spec.config(), created_by=spec.created_by)
        s.add(c)
        s.flush()
        for i in range(0, len(tasks), 5000):
            s.execute(insert(Task), [dict(t, campaign_id=c.id) for t in tasks[i:i + 5000]])
        _add_raters(s, c, spec.raters)
    return get_campaign(spec.name, url=url)


def _check_new(s: Session, spec: CampaignSpec) -> None:
    if s.scalar(select(Campaign.id).where(Campaign.name == spec.name)) is not None:
        raise CampaignError(f"campaign {spec.name!r} exists already; pick another name (or add raters to it)")
    _user_ids(s, spec.raters)


def add_raters(campaign: str | int, raters, *, url: str | None = None) -> tuple[str, ...]:
    """Add users (by name) to a campaign's raters; returns all its raters."""
    with session_scope(url, immediate=True) as s:
        c = campaign_row(s, campaign)
        _add_raters(s, c, tuple(raters))
        return _rater_names(s, c.id)


def _add_raters(s: Session, c: Campaign, names: tuple[str, ...]) -> None:
    have = set(s.scalars(select(CampaignRater.user_id).where(CampaignRater.campaign_id == c.id)))
    for uid in _user_ids(s, names).values():
        if uid not in have:
            s.add(CampaignRater(campaign_id=c.id, user_id=uid))
            have.add(uid)
    s.flush()


def _user_ids(s: Session, names) -> dict[str, int]:
    found = {n: (i, role, active) for n, i, role, active in
             s.execute(select(User.name, User.id, User.role, User.active).where(User.name.in_(list(names))))}
    for n in names:
        if n not in found:
            raise RaterNotInCampaignError(f"no user {n!r}; add one with `relevance users add {n} --role rater`")
        if found[n][1] not in RATER_ROLES or not found[n][2]:
            raise RaterNotInCampaignError(f"user {n!r} cannot rate (role {found[n][1]}, "
                                          f"{'active' if found[n][2] else 'inactive'}); raters need an active "
                                          f"account with role {', '.join(RATER_ROLES)}")
    return {n: found[n][0] for n in names}


def get_campaign(campaign: str | int, *, url: str | None = None) -> CampaignInfo:
    with session_scope(url) as s:
        return _info(s, campaign_row(s, campaign))


def list_campaigns(*, url: str | None = None) -> list[CampaignInfo]:
    with session_scope(url) as s:
        return [_info(s, c) for c in s.scalars(select(Campaign).order_by(Campaign.created_at, Campaign.id))]


def _info(s: Session, c: Campaign) -> CampaignInfo:
    counts = dict(s.execute(select(Task.is_gold, func.count()).where(Task.campaign_id == c.id)
                            .group_by(Task.is_gold)).tuples().all())
    return CampaignInfo(id=c.id, name=c.name, kind=c.kind, strategy=c.strategy,
                        languages=tuple(c.languages.split(",")) if c.languages else (), overlap_k=c.overlap_k,
                        overlap_share=c.overlap_share, gold_ratio=c.gold_ratio, lease_seconds=c.lease_seconds,
                        status=c.status, raters=_rater_names(s, c.id), n_tasks=counts.get(False, 0),
                        n_gold=counts.get(True, 0), config=dict(c.config or {}), created_by=c.created_by,
                        created_at=c.created_at)


def _rater_names(s: Session, campaign_id: int) -> tuple[str, ...]:
    return tuple(s.scalars(select(User.name).join(CampaignRater, CampaignRater.user_id == User.id)
                           .where(CampaignRater.campaign_id == campaign_id).order_by(User.name)))


def campaign_row(s: Session, campaign: str | int) -> Campaign:
    c = s.get(Campaign, campaign) if isinstance(campaign, int) else \
        s.scalar(select(Campaign).where(Campaign.name == campaign))
    if c is None:
        names = list(s.scalars(select(Campaign.name).order_by(Campaign.name).limit(20)))
        raise UnknownCampaignError(f"no campaign {campaign!r}; existing: {', '.join(names) or 'none'} "
                                   f"(create one with `relevance campaign create NAME`)")
    return c


def _rater(s: Session, c: Campaign, rater: str) -> int:
    uid = s.scalar(select(User.id).join(CampaignRater, CampaignRater.user_id == User.id)
                   .where(CampaignRater.campaign_id == c.id, User.name == rater, User.active.is_(True)))
    if uid is None:
        raters = ", ".join(_rater_names(s, c.id)) or "none"
        raise RaterNotInCampaignError(f"rater {rater!r} is not in campaign {c.name!r} (its raters: {raters}); "
                                      f"add them with `relevance campaign add-raters {c.name} {rater}`")
    return uid


# ------------------------------------------------------------------------------------------ assignment

_WRITE_LOCKS: dict[str, threading.Lock] = {}
os.register_at_fork(after_in_child=_WRITE_LOCKS.clear)


@contextmanager
def _writing(url: str | None) -> Iterator[Session]:
    """A write transaction. On SQLite, a process's threads queue on a lock before taking a connection: SQLite's
    busy loop favours newcomers, and 20 raters waiting in it starve some of them while they hold pooled
    connections (measured: pool timeouts at 20 threads × 500 labels). PostgreSQL relies on row locks alone."""
    url = url or config.db_url()
    if not url.startswith("sqlite"):
        with session_scope(url, immediate=True) as s:
            yield s
        return
    with _WRITE_LOCKS.setdefault(url, threading.Lock()), session_scope(url, immediate=True) as s:
        yield s


def _now(now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


def _aware(dt: datetime | None) -> datetime | None:
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def next_task(campaign: str | int, rater: str, *, url: str | None = None,
              now: datetime | None = None) -> TaskView | None:
    """Lease the rater's next task (or return the lease they hold already); None when nothing is left for them.

    ``now`` is for tests and simulations; it defaults to the current time.
    """
    now = _now(now)
    with _writing(url) as s:
        c = campaign_row(s, campaign)
        uid = _rater(s, c, rater)
        if c.status != "active":
            raise CampaignError(f"campaign {c.name!r} is {c.status}; it hands out no tasks")
        held = s.execute(select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
                         .where(Task.campaign_id == c.id, Assignment.user_id == uid, Assignment.status == "leased",
                                Assignment.lease_expires_at > now)
                         .order_by(Assignment.leased_at.desc(), Assignment.id.desc()).limit(1)).first()
        if held is not None:
            return _view(s, c, *held)
        task = _claim(s, c, uid, now, gold=False)
        if task is None:
            return None  # gold alone is never served: it measures raters while there is work
        if c.gold_ratio > 0 and _gold_due(s, c, uid):
            task = _claim(s, c, uid, now, gold=True) or task
        a = s.scalar(select(Assignment).where(Assignment.task_id == task.id, Assignment.user_id == uid))
        if a is None:
            a = Assignment(task_id=task.id, user_id=uid)
            s.add(a)
        a.status, a.leased_at, a.lease_expires_at = "leased", now, now + timedelta(seconds=c.lease_seconds)
        a.completed_at = a.seconds = None
        s.flush()
        return _view(s, c, a, task)


def _active_others(task_id, uid: int, now: datetime):
    return (select(func.count()).select_from(Assignment)
            .where(Assignment.task_id == task_id, Assignment.user_id != uid, Assignment.status == "leased",
                   Assignment.lease_expires_at > now).scalar_subquery())


def _finished_by(task_id, uid: int):
    return (select(Assignment.id).where(Assignment.task_id == task_id, Assignment.user_id == uid,
                                        Assignment.status.in_(("done", "skipped"))).exists())


def _claim(s: Session, c: Campaign, uid: int, now: datetime, gold: bool) -> Task | None:
    """Lock and return an open task for the rater, or None. The lock makes the re-check below current."""
    stmt = select(Task).where(Task.campaign_id == c.id, Task.is_gold.is_(gold), ~_finished_by(Task.id, uid))
    if gold:
        stmt = stmt.order_by((Task.id * 7919 + uid * 104729) % 1000003)  # each rater meets gold in another order
    else:
        stmt = stmt.where(Task.ratings_done < Task.required_ratings,
                          Task.ratings_done + _active_others(Task.id, uid, now) < Task.required_ratings)
        stmt = stmt.order_by(Task.position)
    skipped: list[int] = []
    for _ in range(_CLAIM_TRIES):
        q = stmt.where(Task.id.not_in(skipped)) if skipped else stmt
        task = s.scalar(q.limit(1).with_for_update(skip_locked=True, of=Task))
        if task is None:
            return None
        if s.get_bind().dialect.name == "sqlite" or (  # BEGIN IMMEDIATE: what we read is current
                not s.scalar(select(_finished_by(task.id, uid))) and (gold or _has_room(s, task, uid, now))):
            return task
        skipped.append(task.id)
    return None


def _has_room(s: Session, task: Task, uid: int, now: datetime) -> bool:
    return task.ratings_done + s.scalar(select(_active_others(task.id, uid, now))) < task.required_ratings


def _gold_due(s: Session, c: Campaign, uid: int) -> bool:
    """A seeded draw per (campaign, rater, step): serve gold with probability ``gold_ratio``."""
    seen = s.scalar(select(func.count()).select_from(Assignment).join(Task, Task.id == Assignment.task_id)
                    .where(Task.campaign_id == c.id, Assignment.user_id == uid))
    digest = hashlib.blake2b(f"{c.id}:{uid}:{seen}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < c.gold_ratio


def _view(s: Session, c: Campaign, a: Assignment, task: Task) -> TaskView:
    q = s.get(Query, task.query_pk)
    if task.kind == "grade":
        product = _products(s, [task.product_pk], pk=True)[0]
        return TaskView(a.id, task.id, c.name, task.kind, q.text, q.language, product,
                        lease_expires_at=_aware(a.lease_expires_at))
    p = task.payload
    return TaskView(a.id, task.id, c.name, task.kind, q.text, q.language, None, tuple(_products(s, p["list_a"])),
                    tuple(_products(s, p["list_b"])), _aware(a.lease_expires_at))


def _products(s: Session, keys: list, pk: bool = False) -> list[dict]:
    col = Product.id if pk else Product.product_id
    rows = {getattr(r, "id" if pk else "product_id"): r for r in s.scalars(select(Product).where(col.in_(keys)))}
    return [{f: getattr(rows[k], f) for f in PRODUCT_FIELDS} for k in keys]


def _lease(s: Session, assignment_id: int, rater: str, kind: str | None,
           now: datetime) -> tuple[Assignment, Task, Campaign]:
    """The rater's open assignment, with its task locked; raises AssignmentError saying what is wrong."""
    a = s.get(Assignment, assignment_id)
    if a is None:
        raise AssignmentError(f"no assignment {assignment_id}; call next_task() to get a task")
    task = s.scalar(select(Task).where(Task.id == a.task_id).with_for_update())
    s.refresh(a)
    c = s.get(Campaign, task.campaign_id)
    uid = _rater(s, c, rater)
    if a.user_id != uid:
        raise AssignmentError(f"assignment {assignment_id} belongs to another rater, not {rater!r}")
    if a.status != "leased":
        was = "submitted" if a.status == "done" else a.status
        raise AssignmentError(f"assignment {assignment_id} was already {was}; use undo_last() to change it")
    if kind is not None and task.kind != kind:
        other = "submit_grade" if task.kind == "grade" else "submit_comparison"
        raise AssignmentError(f"assignment {assignment_id} is a {task.kind} task; answer it with {other}()")
    if _aware(a.lease_expires_at) <= now and not task.is_gold and not _has_room(s, task, uid, now):
        raise AssignmentError(f"the lease on task {task.id} expired at {_aware(a.lease_expires_at):%H:%M:%S} UTC and "
                              f"the task went to other raters; call next_task() for a new one")
    return a, task, c


def _close(a: Assignment, task: Task, status: str, seconds: float | None, now: datetime) -> float:
    if seconds is None:
        seconds = max(0.0, (now - _aware(a.leased_at)).total_seconds())
    elif seconds < 0:
        raise CampaignError(f"seconds must be >= 0; got {seconds!r}")
    a.status, a.completed_at, a.seconds = status, now, float(seconds)
    if status == "done":
        task.ratings_done = Task.ratings_done + 1
    return float(seconds)


def submit_grade(assignment_id: int, rater: str, level: int, seconds: float | None = None, *,
                 url: str | None = None, now: datetime | None = None) -> int:
    """Record the rater's level (1–5) for a grade task; returns the new label's id.

    ``seconds`` is the time spent; by default the time since the task was leased.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise LevelOutOfRangeError(f"level must be an integer from 1 (Highly irrelevant) to 5 (Highly relevant); "
                                   f"got {level!r}")
    now = _now(now)
    with _writing(url) as s:
        a, task, _ = _lease(s, assignment_id, rater, "grade", now)
        spent = _close(a, task, "done", seconds, now)
        label = Label(query_pk=task.query_pk, product_pk=task.product_pk, level=level, rater=rater, source="human",
                      task_id=task.id, seconds_spent=spent, created_at=now)
        s.add(label)
        s.flush()
        return label.id


def submit_comparison(assignment_id: int, rater: str, answer: str, reason: str | None = None,
                      seconds: float | None = None, *, url: str | None = None, now: datetime | None = None) -> int:
    """Record A, B or tie (with an optional reason) for a side-by-side task; returns the comparison's id."""
    key = str(answer).strip().lower()
    if key not in ANSWERS:
        raise CampaignError(f"answer must be A, B or tie; got {answer!r}")
    now = _now(now)
    with _writing(url) as s:
        a, task, _ = _lease(s, assignment_id, rater, "side_by_side", now)
        spent = _close(a, task, "done", seconds, now)
        comp = Comparison(task_id=task.id, query_pk=task.query_pk, rater=rater, model_a=task.payload["model_a"],
                          model_b=task.payload["model_b"], answer=ANSWERS[key], reason=(reason or "").strip() or None,
                          seconds_spent=spent, created_at=now)
        s.add(comp)
        s.flush()
        return comp.id


def skip(assignment_id: int, rater: str, reason: str | None = None, *, url: str | None = None,
         now: datetime | None = None) -> None:
    """Give the task back; it goes to other raters and never returns to this one (unless undone)."""
    now = _now(now)
    with _writing(url) as s:
        a, task, _ = _lease(s, assignment_id, rater, None, now)
        _close(a, task, "skipped", None, now)
        a.note = (reason or "").strip() or None


def undo_last(rater: str, campaign: str | int, *, url: str | None = None, now: datetime | None = None) -> TaskView:
    """Take back the rater's latest submit or skip in the campaign and lease that task to them again.

    A submitted grade gets a superseding label with level NULL; a comparison gets a ``retracted`` copy.
    Calling it again undoes the submission before that one. Returns the re-opened task.
    """
    now = _now(now)
    with _writing(url) as s:
        c = campaign_row(s, campaign)
        uid = _rater(s, c, rater)
        a = s.scalar(select(Assignment).join(Task, Task.id == Assignment.task_id)
                     .where(Task.campaign_id == c.id, Assignment.user_id == uid,
                            Assignment.status.in_(("done", "skipped")))
                     .order_by(Assignment.completed_at.desc(), Assignment.id.desc()).limit(1))
        if a is None:
            raise NothingToUndoError(f"rater {rater!r} has nothing to undo in campaign {c.name!r}: no submitted or "
                                     f"skipped task")
        task = s.scalar(select(Task).where(Task.id == a.task_id).with_for_update())
        if a.status == "done":
            _retract(s, task, rater, now)
            task.ratings_done = Task.ratings_done - 1
        a.status, a.leased_at, a.lease_expires_at = "leased", now, now + timedelta(seconds=c.lease_seconds)
        a.completed_at = a.seconds = a.note = None
        s.flush()
        s.refresh(task)
        return _view(s, c, a, task)


def _retract(s: Session, task: Task, rater: str, now: datetime) -> None:
    model = Label if task.kind == "grade" else Comparison
    superseded = select(model.supersedes_id).where(model.task_id == task.id, model.supersedes_id.is_not(None))
    live = select(model).where(model.task_id == task.id, model.rater == rater, model.id.not_in(superseded))
    live = live.where(Label.level.is_not(None)) if model is Label else live.where(Comparison.retracted.is_(False))
    old = s.scalar(live.order_by(model.id.desc()).limit(1))
    if old is None:
        return
    if model is Label:
        s.add(Label(query_pk=old.query_pk, product_pk=old.product_pk, level=None, rater=rater, source=old.source,
                    task_id=task.id, supersedes_id=old.id, created_at=now))
    else:
        s.add(Comparison(task_id=task.id, query_pk=old.query_pk, rater=rater, model_a=old.model_a,
                         model_b=old.model_b, answer=old.answer, reason=old.reason, supersedes_id=old.id,
                         retracted=True, created_at=now))


def progress(campaign: str | int, *, url: str | None = None, now: datetime | None = None) -> Progress:
    """Done/required ratings of the regular tasks and each rater's counts (leased = unexpired leases)."""
    now = _now(now)
    with session_scope(url) as s:
        c = campaign_row(s, campaign)
        capped = case((Task.ratings_done < Task.required_ratings, Task.ratings_done), else_=Task.required_ratings)
        complete = case((Task.ratings_done >= Task.required_ratings, 1), else_=0)
        t = s.execute(select(func.count(), func.coalesce(func.sum(Task.required_ratings), 0),
                             func.coalesce(func.sum(capped), 0), func.coalesce(func.sum(complete), 0))
                      .where(Task.campaign_id == c.id, Task.is_gold.is_(False))).one()
        g = s.execute(select(func.count(), func.coalesce(func.sum(Task.ratings_done), 0))
                      .where(Task.campaign_id == c.id, Task.is_gold.is_(True))).one()
        rows = s.execute(select(User.name, Assignment.status, Assignment.lease_expires_at, Assignment.seconds,
                                Task.is_gold)
                         .join(Assignment, Assignment.user_id == User.id).join(Task, Task.id == Assignment.task_id)
                         .where(Task.campaign_id == c.id)).all()
        names = _rater_names(s, c.id)
    per = {n: {"done": 0, "skipped": 0, "leased": 0, "gold_done": 0, "seconds": []} for n in names}
    for name, status, expires, seconds, is_gold in rows:
        d = per.setdefault(name, {"done": 0, "skipped": 0, "leased": 0, "gold_done": 0, "seconds": []})
        if status == "leased":
            d["leased"] += _aware(expires) > now
        else:
            d[status] += 1
            d["gold_done"] += status == "done" and bool(is_gold)
            if status == "done" and seconds is not None:
                d["seconds"].append(seconds)
    raters = tuple(RaterProgress(n, d["done"], d["skipped"], d["leased"], d["gold_done"],
                                 statistics.median(d["seconds"]) if d["seconds"] else None)
                   for n, d in sorted(per.items()))
    return Progress(c.name, c.kind, int(t[0]), int(t[3]), int(t[1]), int(t[2]), int(g[0]), int(g[1]), raters)


def rater_campaigns(rater: str, kind: str, url: str | None = None) -> list[str]:
    """Active campaigns of ``kind`` that list ``rater`` among their raters (one query)."""
    with session_scope(url) as s:
        return list(s.scalars(select(Campaign.name).join(CampaignRater, CampaignRater.campaign_id == Campaign.id)
                              .join(User, User.id == CampaignRater.user_id)
                              .where(User.name == rater, Campaign.kind == kind, Campaign.status == "active")
                              .order_by(Campaign.created_at.desc(), Campaign.id.desc())))


def comparison_sides(comparison_id: int, url: str | None = None) -> tuple[str, str] | None:
    """The models behind sides A and B of a side-by-side answer (revealed after saving)."""
    with session_scope(url) as s:
        c = s.get(Comparison, comparison_id)
        return (c.model_a, c.model_b) if c else None
