"""How far a campaign is: tasks done per rater and in all, leases open, time spent."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from core.campaigns.admin import campaign_row, rater_names
from core.campaigns.assignment import aware, now_utc
from core.store.session import session_scope
from db.models import Assignment, Task, User


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


def progress(campaign: str | int, *, url: str | None = None, now: datetime | None = None) -> Progress:
    """Done/required ratings of the regular tasks and each rater's counts (leased = unexpired leases)."""
    now = now_utc(now)
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
        names = rater_names(s, c.id)
    per = {n: {"done": 0, "skipped": 0, "leased": 0, "gold_done": 0, "seconds": []} for n in names}
    for name, status, expires, seconds, is_gold in rows:
        d = per.setdefault(name, {"done": 0, "skipped": 0, "leased": 0, "gold_done": 0, "seconds": []})
        if status == "leased":
            d["leased"] += aware(expires) > now
        else:
            d[status] += 1
            d["gold_done"] += status == "done" and bool(is_gold)
            if status == "done" and seconds is not None:
                d["seconds"].append(seconds)
    raters = tuple(RaterProgress(n, d["done"], d["skipped"], d["leased"], d["gold_done"],
                                 statistics.median(d["seconds"]) if d["seconds"] else None)
                   for n, d in sorted(per.items()))
    return Progress(c.name, c.kind, int(t[0]), int(t[3]), int(t[1]), int(t[2]), int(g[0]), int(g[1]), raters)
