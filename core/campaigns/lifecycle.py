"""A campaign's life: instructions for its raters, pause, resume, close, archive, and delete while it is unused.

``status`` is one of ``STATUSES``:

- ``active``: tasks are handed out (``core.campaigns.assignment.next_task``);
- ``paused``: no new task is handed out; an answer to a task already on a rater's screen is still taken;
- ``closed``: labelling is over: no task is handed out and no answer, skip or undo is taken;
- ``archived``: closed and left out of the default lists (``list_campaigns``).

``resume`` makes any of them active again. A campaign is deleted only while no label and no side-by-side answer
refers to its tasks (labels are append-only history); otherwise ``delete_campaign`` refuses and says to close or
archive it. Instructions are Markdown kept in ``campaigns.config["instructions"]``; ``instructions_markdown``
makes them safe to render (no HTML, no images; links stay).

Every change takes the acting user: ``None`` for the shell (``relevance campaign ...``: whoever runs it owns the
store), else a user name or the signed-in ``SessionUser``, checked in the same transaction as the write: an
active account with a staff role (``STAFF_ROLES``) and, for a ``SessionUser``, a session that has not ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.campaigns.admin import CampaignInfo, campaign_info, campaign_row
from core.campaigns.assignment import writing
from core.campaigns.spec import MAX_INSTRUCTIONS
from core.errors import CampaignError, CampaignInUseError, NotPermittedError
from core.store import users
from core.store.session import session_scope
from core.store.users import STAFF_ROLES
from db.models import Assignment, Campaign, CampaignRater, Comparison, Label, Task, User

STATUSES = ("active", "paused", "closed", "archived")
# action -> (the status it sets, the statuses it starts from)
ACTIONS = {"pause": ("paused", ("active",)), "resume": ("active", ("paused", "closed", "archived")),
           "close": ("closed", ("active", "paused")), "archive": ("archived", ("active", "paused", "closed"))}
RATER_VISIBLE = ("active", "paused")  # statuses a rater's Rate/Compare picker lists


@dataclass(frozen=True)
class RaterCampaign:
    """A campaign as the Rate and Compare pages list it: name, status and its instructions (Markdown)."""

    name: str
    status: str
    instructions: str = ""


def acting_staff(s: Session, actor) -> str | None:
    """The acting user's name after checking they may manage campaigns; None for the shell (``actor=None``).

    Raises:
        NotPermittedError: no such account, deactivated, or a role outside ``STAFF_ROLES``.
        SessionEndedError: a ``SessionUser`` whose session ended (password, role or status changed).
    """
    if actor is None:
        return None
    name = getattr(actor, "name", actor)
    user = users.find(s, name)
    if user is None or not user.active:
        raise NotPermittedError(f"{name!r} is not an active account; campaigns are managed by "
                                f"{' or '.join(STAFF_ROLES)} accounts")
    if user.role not in STAFF_ROLES:
        raise NotPermittedError(f"{user.name!r} is a {user.role}; only a {' or '.join(STAFF_ROLES)} may change a "
                                f"campaign")
    users.check_session(actor, user)
    return user.name


def set_status(campaign: str | int, action: str, *, actor=None, url: str | None = None) -> CampaignInfo:
    """Pause, resume, close or archive a campaign (``action``, a key of ``ACTIONS``); returns it as now stored.

    Raises:
        CampaignError: an unknown action, or a campaign already in that status or one it cannot go to from
            its own (``ACTIONS``).
        NotPermittedError: the actor may not manage campaigns.
    """
    if action not in ACTIONS:
        raise CampaignError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    target, sources = ACTIONS[action]
    with writing(url) as s:
        acting_staff(s, actor)
        c = campaign_row(s, campaign)
        if c.status == target:
            raise CampaignError(f"campaign {c.name!r} is {target} already")
        if c.status not in sources:
            raise CampaignError(f"campaign {c.name!r} is {c.status}; {action} applies to a campaign that is "
                                f"{' or '.join(sources)}")
        c.status = target
        s.flush()
        return campaign_info(s, c)


def pause_campaign(campaign: str | int, *, actor=None, url: str | None = None) -> CampaignInfo:
    """No new tasks until ``resume_campaign``; answers to tasks already on screen are still taken."""
    return set_status(campaign, "pause", actor=actor, url=url)


def resume_campaign(campaign: str | int, *, actor=None, url: str | None = None) -> CampaignInfo:
    """Make a paused, closed or archived campaign active again."""
    return set_status(campaign, "resume", actor=actor, url=url)


def close_campaign(campaign: str | int, *, actor=None, url: str | None = None) -> CampaignInfo:
    """End the labelling: no task is handed out and no answer, skip or undo is taken."""
    return set_status(campaign, "close", actor=actor, url=url)


def archive_campaign(campaign: str | int, *, actor=None, url: str | None = None) -> CampaignInfo:
    """Close the campaign and leave it out of the default lists; its labels stay in force."""
    return set_status(campaign, "archive", actor=actor, url=url)


def set_instructions(campaign: str | int, text: str | None, *, actor=None, url: str | None = None) -> CampaignInfo:
    """Store the raters' instructions (Markdown; empty removes them); Rate and Compare show them.

    Raises:
        CampaignError: longer than ``MAX_INSTRUCTIONS`` characters.
        NotPermittedError: the actor may not manage campaigns.
    """
    text = (text or "").strip()
    if len(text) > MAX_INSTRUCTIONS:
        raise CampaignError(f"instructions must be at most {MAX_INSTRUCTIONS:,} characters; got {len(text):,}")
    with writing(url) as s:
        acting_staff(s, actor)
        c = campaign_row(s, campaign)
        config = {k: v for k, v in (c.config or {}).items() if k != "instructions"}
        c.config = config | ({"instructions": text} if text else {})  # a new dict: the JSON column sees the change
        s.flush()
        return campaign_info(s, c)


def delete_campaign(campaign: str | int, *, actor=None, url: str | None = None) -> str:
    """Delete a campaign with its tasks, leases and raters, while no label or side-by-side answer refers to it.

    Returns the deleted campaign's name.

    Raises:
        CampaignInUseError: the campaign holds labels or answers (undone ones count: they are history);
            close or archive it instead.
        NotPermittedError: the actor may not manage campaigns.
    """
    with writing(url) as s:
        acting_staff(s, actor)
        c = campaign_row(s, campaign)
        task_ids = select(Task.id).where(Task.campaign_id == c.id)
        s.execute(select(Task.id).where(Task.campaign_id == c.id).with_for_update()).all()  # answers wait for us
        n_labels = s.scalar(select(func.count()).select_from(Label).where(Label.task_id.in_(task_ids)))
        n_answers = s.scalar(select(func.count()).select_from(Comparison).where(Comparison.task_id.in_(task_ids)))
        if n_labels or n_answers:
            held = " and ".join(x for x in (f"{n_labels} label row(s)" if n_labels else "",
                                            f"{n_answers} side-by-side answer row(s)" if n_answers else "") if x)
            raise CampaignInUseError(f"campaign {c.name!r} holds {held} (undone ones included: labels are "
                                     f"history), so it cannot be deleted; close or archive it instead")
        s.execute(delete(Assignment).where(Assignment.task_id.in_(task_ids)))
        s.execute(delete(Task).where(Task.campaign_id == c.id))
        s.execute(delete(CampaignRater).where(CampaignRater.campaign_id == c.id))
        name = c.name
        s.execute(delete(Campaign).where(Campaign.id == c.id))
        return name


def rater_campaign_list(rater: str, kind: str, *, url: str | None = None) -> list[RaterCampaign]:
    """The rater's active and paused campaigns of ``kind``, newest first, with their instructions (one query)."""
    with session_scope(url) as s:
        rows = s.execute(select(Campaign.name, Campaign.status, Campaign.config)
                         .join(CampaignRater, CampaignRater.campaign_id == Campaign.id)
                         .join(User, User.id == CampaignRater.user_id)
                         .where(User.name == rater, Campaign.kind == kind, Campaign.status.in_(RATER_VISIBLE))
                         .order_by(Campaign.created_at.desc(), Campaign.id.desc())).all()
    return [RaterCampaign(name, status, str((config or {}).get("instructions") or "")) for name, status, config in rows]


_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>]+)>", re.I)
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<![A-Za-z][^<>]*>|<\?[^<>]*\?>")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+\"[^\"\n]*\")?\s*\)")
_REF = re.compile(r"^\s{0,3}\[([^\]\n]+)\]:\s*<?(\S*?)>?(?:\s+.*)?$", re.M)
_SAFE_TARGET = re.compile(r"^(?:https?://|mailto:|#)", re.I)


def instructions_markdown(text: str | None) -> str:
    """Instructions made safe for ``st.markdown`` (rendered without ``unsafe_allow_html``): HTML tags and comments
    are removed, images become links (nothing is fetched), and a link keeps its target only when that is
    http(s), mailto or an anchor (``javascript:`` and the like leave the link text alone)."""
    text = _COMMENT.sub("", text or "")
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub("", text).replace("![", "[")

    def link(m: re.Match) -> str:
        return m.group(0) if _SAFE_TARGET.match(m.group(2)) else m.group(1)

    def ref(m: re.Match) -> str:
        return m.group(0) if _SAFE_TARGET.match(m.group(2)) else ""

    return _REF.sub(ref, _LINK.sub(link, text)).strip()
