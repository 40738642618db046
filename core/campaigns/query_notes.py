"""Query notes: what a query means (its information need), written by a researcher or admin, read by raters.

A note is Markdown-free plain text shown above the item on Rate and Compare (``TaskView.note``, loaded with the
task in the same statement, so a key press costs no extra query). Storage (``db.models.QueryNote``) is append-only:
an edit adds a row, the latest row is in force, an empty text clears the note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from core.campaigns.assignment import now_utc, writing
from core.campaigns.lifecycle import acting_staff
from core.errors import CampaignError
from core.store.notes import note_in_force
from core.store.session import session_scope
from db.models import Query, QueryNote

MAX_NOTE = 2000


def _query(s, query_id: str) -> Query:
    q = s.scalar(select(Query).where(Query.query_id == query_id))
    if q is None:
        raise CampaignError(f"no query with query_id {query_id!r}")
    return q


def set_query_note(query_id: str, text: str | None, *, actor=None, url: str | None = None,
                   now: datetime | None = None) -> str:
    """Write the note of a query (empty clears it); returns the note now in force.

    Args:
        query_id: the query's ``query_id``.
        text: plain text, at most ``MAX_NOTE`` characters.
        actor: the acting user (name or ``SessionUser``), a researcher or admin; None for the shell.

    Raises:
        CampaignError: an unknown query or a note too long. NotPermittedError: the actor is not staff.
    """
    text = (text or "").strip()
    if len(text) > MAX_NOTE:
        raise CampaignError(f"a query note must be at most {MAX_NOTE:,} characters; got {len(text):,}")
    now = now_utc(now)
    with writing(url) as s:
        name = acting_staff(s, actor)
        q = _query(s, query_id)
        if (s.scalar(select(note_in_force(q.id))) or "") != text:  # unchanged: no new row
            s.add(QueryNote(query_pk=q.id, note=text, author=name, created_at=now))
        return text


def query_note(query_id: str, url: str | None = None) -> str:
    """The note in force of a query ('' when none)."""
    with session_scope(url) as s:
        return s.scalar(select(note_in_force(_query(s, query_id).id))) or ""


def note_history(query_id: str, url: str | None = None) -> list[dict]:
    """Every version of a query's note, newest first: note, author, created_at."""
    with session_scope(url) as s:
        pk = _query(s, query_id).id
        rows = s.execute(select(QueryNote.note, QueryNote.author, QueryNote.created_at)
                         .where(QueryNote.query_pk == pk).order_by(QueryNote.id.desc())).all()
    return [{"note": n, "author": a, "created_at": t} for n, a, t in rows]
