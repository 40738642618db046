"""Query notes as read everywhere: the note in force per query (the latest row of ``query_notes``).

Writes go through ``core.campaigns.query_notes`` (a researcher's or admin's, checked in the write's transaction).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Query, QueryNote


def note_in_force(query_pk_column):
    """A scalar subquery: the latest note of the query whose primary key is ``query_pk_column`` ('' or NULL: none).

    Selected together with the query (``select(Query, note_in_force(Query.id))``), a task and its note are one
    round trip."""
    return (select(QueryNote.note).where(QueryNote.query_pk == query_pk_column)
            .order_by(QueryNote.id.desc()).limit(1).scalar_subquery())


def notes_by_query(s: Session, query_pks=None) -> dict[int, str]:
    """query_pk -> the note in force, for queries with a non-empty note (``query_pks`` limits the look-up)."""
    stmt = select(Query.id, note_in_force(Query.id).label("note"))
    if query_pks is not None:
        stmt = stmt.where(Query.id.in_(list(query_pks)))
    return {pk: note for pk, note in s.execute(stmt).all() if note}
