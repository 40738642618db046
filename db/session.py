"""Engines and sessions for the URL the caller passes (db/ knows no settings: core resolves the URL).

SQLite gets WAL, foreign keys and a busy timeout on every connection; its transactions are begun
by us (``BEGIN`` or, for writers that must not interleave, ``BEGIN IMMEDIATE``) so that SQLite's
locking is predictable. PostgreSQL is used as it is; writers that must not interleave there take a named
transaction-scoped advisory lock (``session_scope(..., lock="imports")``).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

_ENGINES: dict[str, Engine] = {}
_LOCK = threading.Lock()
BUSY_TIMEOUT_MS = 30_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def get_engine(url: str) -> Engine:
    """One engine per URL per process."""
    if not url:
        raise ValueError("db.session needs the store's URL; core.store.session passes the configured one")
    with _LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                if url not in ("sqlite://", "sqlite:///:memory:"):
                    path = url.split("///", 1)[1]
                    from pathlib import Path
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000,
                                                          "check_same_thread": False})
                _configure_sqlite(engine)
            else:
                # The app serves every rater from a thread of one process: size the pool for a busy
                # campaign rather than SQLAlchemy's default 5 + 10 (RELEVANCE_DB_POOL overrides).
                import os
                size = int(os.environ.get("RELEVANCE_DB_POOL", "20"))
                engine = create_engine(url, pool_pre_ping=True, pool_size=size, max_overflow=size)
            _ENGINES[url] = engine
        return engine


def dispose(url: str) -> None:
    with _LOCK:
        engine = _ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def dispose_all() -> None:
    with _LOCK:
        for engine in _ENGINES.values():
            engine.dispose()
        _ENGINES.clear()


def session_factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


def advisory_key(name: str) -> int:
    """The 32-bit key of PostgreSQL's advisory lock called ``name`` (stable across processes)."""
    return zlib.crc32(f"relevance:{name}".encode())


@contextmanager
def session_scope(url: str, *, immediate: bool = False, lock: str | None = None) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error.

    ``immediate=True`` takes SQLite's write lock at BEGIN (``BEGIN IMMEDIATE``), so two writers that
    read-then-write cannot interleave; on PostgreSQL use row locks (``with_for_update``) or ``lock``.
    ``lock`` names a lock that writers of one kind share (``"imports"``): on PostgreSQL it is a
    transaction-scoped advisory lock taken first, so the second writer waits and then reads what the
    first committed; on SQLite the write lock of ``BEGIN IMMEDIATE`` (taken whenever ``lock`` is given)
    already serialises every writer.
    """
    session = session_factory(url)()
    try:
        dialect = session.get_bind().dialect.name
        if (immediate or lock) and dialect == "sqlite":
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        elif lock and dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": advisory_key(lock)})
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
