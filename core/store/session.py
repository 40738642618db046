"""Sessions on the configured store: ``db.session`` with the URL from ``core.config`` when none is given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import config
from core.errors import StoreIntegrityError
from db import migrate
from db import session as _db


def resolve(url: str | None) -> str:
    """``url`` or the configured store (``RELEVANCE_DB_URL`` or data/relevance.db)."""
    return url or config.db_url()


def get_engine(url: str | None = None) -> Engine:
    return _db.get_engine(resolve(url))


@contextmanager
def session_scope(url: str | None = None, *, immediate: bool = False, lock: str | None = None) -> Iterator[Session]:
    """``db.session.session_scope`` on ``url`` or the configured store (see there for ``immediate``, ``lock``)."""
    with _db.session_scope(resolve(url), immediate=immediate, lock=lock) as s:
        yield s


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Create or migrate the store to ``revision`` (idempotent).

    Raises:
        StoreIntegrityError: a migration found rows it must not change silently (nothing was migrated).
    """
    try:
        migrate.upgrade(resolve(url), revision)
    except migrate.MigrationRefused as exc:
        raise StoreIntegrityError(f"{shown_url(url)}: {exc}") from None


def shown_url(url: str | None = None) -> str:
    """The store's URL as it may be printed: the password hidden (``postgresql://bob:***@host/db``)."""
    from sqlalchemy.engine import make_url

    return make_url(resolve(url)).render_as_string(hide_password=True)


def explain_db_error(exc: Exception, url: str | None = None) -> str:
    """One line for a database error a person can fix: a store without tables, or one that cannot be reached."""
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return f"the store {shown_url(url)} has no tables yet; run `relevance init` first ({text[:120]})"
    return f"cannot use the store {shown_url(url)}: {text[:200]}"
