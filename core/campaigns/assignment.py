"""Rating campaigns: create them, hand out tasks to raters, take their answers (the API the rater pages call).

A campaign is a named set of tasks (``CampaignSpec``; sampling in ``core.campaigns.sampling``). A *grade* task is one
pair rated on the 5-point scale; a *side-by-side* task is one query with two models' rankings shown as A
and B (sides drawn per task, recorded in ``task.payload``), answered A, B or tie.

Assignment rules:

- ``next_task`` is atomic: SQLite runs it in ``BEGIN IMMEDIATE``; PostgreSQL locks the chosen task row
  (``FOR UPDATE SKIP LOCKED``), then re-checks it. Every change to a task's assignments holds that lock.
- A task needing k ratings goes to k different raters (``assignments`` is unique on (task, user)); a slot
  is taken by a submitted rating or a lease that has not expired, so abandoned tasks come back.
- A skipped task never returns to the same rater. ``undo_last`` appends a retraction (a label with level
  NULL, or a comparison marked ``retracted``) and re-leases the task to the rater; nothing is deleted.
- Every call takes the acting rater (a name, or the signed-in ``SessionUser``) and checks, in the same
  transaction as the write: the account exists and is active, its role may rate, it is a rater of the
  campaign and, for a ``SessionUser``, that its session has not ended (password, role or status changed).
- Gold tasks are open to every rater once and are served at ``gold_ratio`` of each rater's tasks (a
  seeded draw per rater and step); they do not count towards progress. ``TaskView`` (what a rater sees)
  carries no gold flag, gold level, or model names.
- A campaign that is not active hands out no task (``CampaignNotActiveError``, with its ``status``); a paused one
  still takes answers and skips for tasks already leased, a closed or archived one takes none, and undo needs an
  active one (``core.campaigns.lifecycle`` changes the status).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import config
from core.campaigns.admin import campaign_row, rater_id
from core.errors import (AssignmentError, CampaignError, CampaignNotActiveError, LevelOutOfRangeError,
                         NothingToUndoError, RaterNotInCampaignError)
from core.store.notes import note_in_force
from core.store.session import session_scope
from core.store import users
from core.store.users import RATER_ROLES
from db.models import Assignment, Campaign, Comparison, Label, Product, Query, Task, User


ANSWERS = {"a": "A", "b": "B", "tie": "tie"}
PRODUCT_FIELDS = ("product_id", "title", "description", "bullet_points", "brand", "color", "category", "image",
                  "caption", "price", "rating", "rating_count")
_CLAIM_TRIES = 50
ANSWERING = ("active", "paused")  # statuses whose tasks already on a rater's screen may still be answered


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
    note: str = ""  # the query's note (what it means), from ``core.campaigns.query_notes``


_WRITE_LOCKS: dict[str, threading.Lock] = {}
os.register_at_fork(after_in_child=_WRITE_LOCKS.clear)


@contextmanager
def writing(url: str | None) -> Iterator[Session]:
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


def not_active(c: Campaign, doing: str = "hands out no new tasks") -> CampaignNotActiveError:
    """The error a rater's call gets from a campaign that is not active (``core.campaigns.lifecycle``)."""
    after = {"paused": " until a researcher or admin resumes it", "closed": ": labelling is over",
             "archived": ": it is archived"}
    return CampaignNotActiveError(c.name, c.status, f"campaign {c.name!r} is {c.status}; it {doing}"
                                                    f"{after.get(c.status, '')}")


def now_utc(now: datetime | None = None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


def aware(dt: datetime | None) -> datetime | None:
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def next_task(campaign: str | int, rater, *, url: str | None = None, now: datetime | None = None,
              exclude: tuple[int, ...] = ()) -> TaskView | None:
    """Lease the rater's next task (or return the lease they hold already); None when nothing is left for them.

    ``exclude`` (task ids) leases one more task ahead while the rater holds those (the Rate page prefetches
    the next item this way): their leases are neither returned nor claimed again. ``now`` is for tests and
    simulations; it defaults to the current time.
    """
    now = now_utc(now)
    with writing(url) as s:
        c = campaign_row(s, campaign)
        uid, _ = acting_rater(s, c, rater)
        if c.status != "active":
            raise not_active(c)
        held = s.execute(select(Assignment, Task).join(Task, Task.id == Assignment.task_id)
                         .where(Task.campaign_id == c.id, Assignment.user_id == uid, Assignment.status == "leased",
                                Assignment.lease_expires_at > now, *([Task.id.not_in(exclude)] if exclude else []))
                         .order_by(Assignment.leased_at.desc(), Assignment.id.desc()).limit(1)).first()
        if held is not None:
            return _view(s, c, *held)
        task = _claim(s, c, uid, now, gold=False, exclude=exclude)
        if task is None:
            return None  # gold alone is never served: it measures raters while there is work
        if c.gold_ratio > 0 and _gold_due(s, c, uid):
            task = _claim(s, c, uid, now, gold=True, exclude=exclude) or task
        a = s.scalar(select(Assignment).where(Assignment.task_id == task.id, Assignment.user_id == uid))
        if a is None:
            a = Assignment(task_id=task.id, user_id=uid)
            s.add(a)
        a.status, a.leased_at, a.lease_expires_at = "leased", now, now + timedelta(seconds=c.lease_seconds)
        a.completed_at = a.seconds = None
        s.flush()
        return _view(s, c, a, task)


def has_work(campaign: str | int, rater: str, *, url: str | None = None, now: datetime | None = None) -> bool:
    """Whether ``next_task`` would give the rater a task now (a lease held or an open task); reads only."""
    now = now_utc(now)
    with session_scope(url) as s:
        c = campaign_row(s, campaign)
        uid = s.scalar(select(User.id).where(User.name == rater))
        if c.status != "active" or uid is None:
            return False
        mine = select(Assignment.id).join(Task, Task.id == Assignment.task_id).where(
            Task.campaign_id == c.id, Assignment.user_id == uid, Assignment.status == "leased",
            Assignment.lease_expires_at > now)
        open_ = select(Task.id).where(Task.campaign_id == c.id, Task.is_gold.is_(False), ~_finished_by(Task.id, uid),
                                      Task.ratings_done + _active_others(Task.id, uid, now) < Task.required_ratings)
        return s.scalar(select(mine.exists())) or s.scalar(select(open_.exists()))


def _active_others(task_id, uid: int, now: datetime):
    return (select(func.count()).select_from(Assignment)
            .where(Assignment.task_id == task_id, Assignment.user_id != uid, Assignment.status == "leased",
                   Assignment.lease_expires_at > now).scalar_subquery())


def _finished_by(task_id, uid: int):
    return (select(Assignment.id).where(Assignment.task_id == task_id, Assignment.user_id == uid,
                                        Assignment.status.in_(("done", "skipped"))).exists())


def _claim(s: Session, c: Campaign, uid: int, now: datetime, gold: bool, exclude: tuple[int, ...] = ()) -> Task | None:
    """Lock and return an open task for the rater, or None. The lock makes the re-check below current."""
    stmt = select(Task).where(Task.campaign_id == c.id, Task.is_gold.is_(gold), ~_finished_by(Task.id, uid))
    if exclude:
        stmt = stmt.where(Task.id.not_in(exclude))
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
    q, note = s.execute(select(Query, note_in_force(Query.id)).where(Query.id == task.query_pk)).one()
    if task.kind == "grade":
        product = _products(s, [task.product_pk], pk=True)[0]
        return TaskView(a.id, task.id, c.name, task.kind, q.text, q.language, product,
                        lease_expires_at=aware(a.lease_expires_at), note=note or "")
    p = task.payload
    return TaskView(a.id, task.id, c.name, task.kind, q.text, q.language, None, tuple(_products(s, p["list_a"])),
                    tuple(_products(s, p["list_b"])), aware(a.lease_expires_at), note or "")


def _products(s: Session, keys: list, pk: bool = False) -> list[dict]:
    col = Product.id if pk else Product.product_id
    rows = {getattr(r, "id" if pk else "product_id"): r for r in s.scalars(select(Product).where(col.in_(keys)))}
    return [{f: getattr(rows[k], f) for f in PRODUCT_FIELDS} for k in keys]


def task_in_view(s: Session, assignment_id: int, rater, *, missing: str,
                 doing: str) -> tuple[Assignment, Task, Campaign, int, str]:
    """The assignment of a task on the rater's screen, its task (row locked), campaign, and the rater's id and name.

    Checks the rater (``acting_rater``), that the assignment is theirs and that the campaign still takes answers
    (``ANSWERING``; else ``not_active(c, doing)``); an unknown assignment's error ends with ``missing`` (what to
    do). The assignment's own status is the caller's to check: an answer needs a lease, a flag does not.
    """
    a = s.get(Assignment, assignment_id)
    task = None if a is None else s.scalar(select(Task).where(Task.id == a.task_id).with_for_update())
    if task is None:  # no such assignment, or its campaign was deleted while we waited for the lock
        raise AssignmentError(f"no assignment {assignment_id}; {missing}")
    s.refresh(a)
    c = s.get(Campaign, task.campaign_id)
    uid, name = acting_rater(s, c, rater)
    if a.user_id != uid:
        raise AssignmentError(f"assignment {assignment_id} belongs to another rater, not {name!r}")
    if c.status not in ANSWERING:
        raise not_active(c, doing)
    return a, task, c, uid, name


def _lease(s: Session, assignment_id: int, rater, kind: str | None,
           now: datetime) -> tuple[Assignment, Task, Campaign, str]:
    """The rater's open assignment, with its task locked; raises AssignmentError saying what is wrong."""
    a, task, c, uid, name = task_in_view(s, assignment_id, rater, missing="call next_task() to get a task",
                                         doing="takes no more answers")
    if a.status != "leased":
        was = "submitted" if a.status == "done" else a.status
        raise AssignmentError(f"assignment {assignment_id} was already {was}; use undo_last() to change it")
    if kind is not None and task.kind != kind:
        other = "submit_grade" if task.kind == "grade" else "submit_comparison"
        raise AssignmentError(f"assignment {assignment_id} is a {task.kind} task; answer it with {other}()")
    if aware(a.lease_expires_at) <= now and not task.is_gold and not _has_room(s, task, uid, now):
        raise AssignmentError(f"the lease on task {task.id} expired at {aware(a.lease_expires_at):%H:%M:%S} UTC and "
                              f"the task went to other raters; call next_task() for a new one")
    return a, task, c, name


def acting_rater(s: Session, c: Campaign, rater) -> tuple[int, str]:
    """The acting rater's user id and name, after checking they may rate in ``c`` now.

    ``rater`` is a user name or a signed-in user (anything with ``name`` and ``version``).

    Raises:
        RaterNotInCampaignError: no such user, deactivated, a role that cannot rate, or not in the campaign.
        SessionEndedError: the signed-in session's version is no longer the account's (password, role or
            status changed since it signed in).
    """
    name = getattr(rater, "name", rater)
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        return rater_id(s, c, name), name  # says who the campaign's raters are
    if not user.active:
        raise RaterNotInCampaignError(f"the account {name!r} is deactivated; it cannot rate (an admin can "
                                      f"reactivate it)")
    if user.role not in RATER_ROLES:
        raise RaterNotInCampaignError(f"{name!r} is a {user.role} and cannot rate; raters need role "
                                      f"{', '.join(RATER_ROLES)}")
    users.check_session(rater, user)
    return rater_id(s, c, name), name


def _close(a: Assignment, task: Task, status: str, seconds: float | None, now: datetime) -> float:
    if seconds is None:
        seconds = max(0.0, (now - aware(a.leased_at)).total_seconds())
    elif seconds < 0:
        raise CampaignError(f"seconds must be >= 0; got {seconds!r}")
    a.status, a.completed_at, a.seconds = status, now, float(seconds)
    if status == "done":
        task.ratings_done = Task.ratings_done + 1
    return float(seconds)


def submit_grade(assignment_id: int, rater, level: int, seconds: float | None = None, *,
                 url: str | None = None, now: datetime | None = None) -> int:
    """Record the rater's level (1–5) for a grade task; returns the new label's id.

    ``seconds`` is the time spent; by default the time since the task was leased. ``rater`` is the acting
    user (a name or the signed-in ``SessionUser``); see ``acting_rater`` for what is checked.
    """
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise LevelOutOfRangeError(f"level must be an integer from 1 (Highly irrelevant) to 5 (Highly relevant); "
                                   f"got {level!r}")
    now = now_utc(now)
    with writing(url) as s:
        a, task, _, name = _lease(s, assignment_id, rater, "grade", now)
        spent = _close(a, task, "done", seconds, now)
        label = Label(query_pk=task.query_pk, product_pk=task.product_pk, level=level, rater=name, source="human",
                      task_id=task.id, seconds_spent=spent, created_at=now)
        s.add(label)
        s.flush()
        return label.id


def submit_comparison(assignment_id: int, rater, answer: str, reason: str | None = None,
                      seconds: float | None = None, *, url: str | None = None, now: datetime | None = None) -> int:
    """Record A, B or tie (with an optional reason) for a side-by-side task; returns the comparison's id."""
    key = str(answer).strip().lower()
    if key not in ANSWERS:
        raise CampaignError(f"answer must be A, B or tie; got {answer!r}")
    now = now_utc(now)
    with writing(url) as s:
        a, task, _, name = _lease(s, assignment_id, rater, "side_by_side", now)
        spent = _close(a, task, "done", seconds, now)
        comp = Comparison(task_id=task.id, query_pk=task.query_pk, rater=name, model_a=task.payload["model_a"],
                          model_b=task.payload["model_b"], answer=ANSWERS[key], reason=(reason or "").strip() or None,
                          seconds_spent=spent, created_at=now)
        s.add(comp)
        s.flush()
        return comp.id


def skip(assignment_id: int, rater, reason: str | None = None, *, url: str | None = None,
         now: datetime | None = None) -> None:
    """Give the task back; it goes to other raters and never returns to this one (unless undone)."""
    now = now_utc(now)
    with writing(url) as s:
        a, task, _, _ = _lease(s, assignment_id, rater, None, now)
        _close(a, task, "skipped", None, now)
        a.note = (reason or "").strip() or None


def undo_last(rater, campaign: str | int, *, url: str | None = None, now: datetime | None = None) -> TaskView:
    """Take back the rater's latest submit or skip in the campaign and lease that task to them again.

    A submitted grade gets a superseding label with level NULL; a comparison gets a ``retracted`` copy.
    Calling it again undoes the submission before that one. Returns the re-opened task.
    """
    now = now_utc(now)
    with writing(url) as s:
        c = campaign_row(s, campaign)
        uid, rater = acting_rater(s, c, rater)
        if c.status != "active":
            raise not_active(c, "reopens no answers")
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
