"""Campaigns as records: create them, add raters, look them up (``CampaignInfo``), find a rater's campaigns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from core.campaigns.sampling import plan_tasks
from core.campaigns.spec import CampaignSpec
from core.errors import CampaignError, RaterNotInCampaignError, UnknownCampaignError
from core.store.session import session_scope
from core.store.users import RATER_ROLES
from db.models import Campaign, CampaignRater, Comparison, Task, User


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


def create_campaign(spec: CampaignSpec, *, url: str | None = None) -> CampaignInfo:
    """Sample the tasks of ``spec`` (``core.campaigns.sampling``), then store the campaign, its raters and tasks at once."""
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


def check_new(spec: CampaignSpec, *, url: str | None = None) -> None:
    """Raise ``CampaignError`` when ``spec``'s name is taken or a rater is unknown (before a background job)."""
    with session_scope(url) as s:
        _check_new(s, spec)


def _check_new(s: Session, spec: CampaignSpec) -> None:
    if s.scalar(select(Campaign.id).where(Campaign.name == spec.name)) is not None:
        raise CampaignError(f"campaign {spec.name!r} exists already; pick another name (or add raters to it)")
    _user_ids(s, spec.raters)


def add_raters(campaign: str | int, raters, *, url: str | None = None) -> tuple[str, ...]:
    """Add users (by name) to a campaign's raters; returns all its raters."""
    with session_scope(url, immediate=True) as s:
        c = campaign_row(s, campaign)
        _add_raters(s, c, tuple(raters))
        return rater_names(s, c.id)


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
        return campaign_info(s, campaign_row(s, campaign))


def list_campaigns(*, include_archived: bool = False, url: str | None = None) -> list[CampaignInfo]:
    """Every campaign, oldest first; archived ones only with ``include_archived``."""
    stmt = select(Campaign).order_by(Campaign.created_at, Campaign.id)
    if not include_archived:
        stmt = stmt.where(Campaign.status != "archived")
    with session_scope(url) as s:
        return [campaign_info(s, c) for c in s.scalars(stmt)]


def campaign_info(s: Session, c: Campaign) -> CampaignInfo:
    counts = dict(s.execute(select(Task.is_gold, func.count()).where(Task.campaign_id == c.id)
                            .group_by(Task.is_gold)).tuples().all())
    return CampaignInfo(id=c.id, name=c.name, kind=c.kind, strategy=c.strategy,
                        languages=tuple(c.languages.split(",")) if c.languages else (), overlap_k=c.overlap_k,
                        overlap_share=c.overlap_share, gold_ratio=c.gold_ratio, lease_seconds=c.lease_seconds,
                        status=c.status, raters=rater_names(s, c.id), n_tasks=counts.get(False, 0),
                        n_gold=counts.get(True, 0), config=dict(c.config or {}), created_by=c.created_by,
                        created_at=c.created_at)


def rater_names(s: Session, campaign_id: int) -> tuple[str, ...]:
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


def rater_id(s: Session, c: Campaign, rater: str) -> int:
    uid = s.scalar(select(User.id).join(CampaignRater, CampaignRater.user_id == User.id)
                   .where(CampaignRater.campaign_id == c.id, User.name == rater, User.active.is_(True)))
    if uid is None:
        raters = ", ".join(rater_names(s, c.id)) or "none"
        raise RaterNotInCampaignError(f"rater {rater!r} is not in campaign {c.name!r} (its raters: {raters}); "
                                      f"add them with `relevance campaign add-raters {c.name} {rater}`")
    return uid


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
