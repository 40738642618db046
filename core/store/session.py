"""Sessions on the configured store: ``db.session`` with the URL from ``core.config`` when none is given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import config
from db import migrate
from db import session as _db


def resolve(url: str | None) -> str:
    """``url`` or the configured store (``RELEVANCE_DB_URL`` or data/relevance.db)."""
    return url or config.db_url()


def get_engine(url: str | None = None) -> Engine:
    return _db.get_engine(resolve(url))


@contextmanager
def session_scope(url: str | None = None, *, immediate: bool = False) -> Iterator[Session]:
    """``db.session.session_scope`` on ``url`` or the configured store (see there for ``immediate``)."""
    with _db.session_scope(resolve(url), immediate=immediate) as s:
        yield s


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Create or migrate the store to ``revision`` (idempotent)."""
    migrate.upgrade(resolve(url), revision)
