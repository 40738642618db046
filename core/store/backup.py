"""Backups of the store, ``backup(dest)`` and ``restore(src)``, on SQLite and on PostgreSQL.

SQLite: sqlite3's online backup API copies one consistent snapshot while the app keeps writing (in WAL
mode a reader does not block writers) into a temporary file beside the destination, renamed into place
only once complete, so a failed backup leaves no half file. The backup is one self-contained file (no
``-wal`` beside it). Restore checks the file, copies it into a temporary file beside the store, migrates
that copy when an older schema made it, then copies it into the live database with the backup API in one
step: a running app sees the old store or the new one, never a mix, and keeps its connections.

PostgreSQL: ``pg_dump -Fc`` inside a snapshot exported by the REPEATABLE READ transaction that counts the
rows, so the counts are those of the dump; ``pg_restore --clean --if-exists --no-owner --single-transaction``
restores all or nothing. The password reaches both through PGPASSWORD, never their command line.

Schema versions: a backup's Alembic revision must be one this code knows. The current head is restored as
it is; an older one is restored and migrated to head (SQLite: before the swap, so still all or nothing;
PostgreSQL: right after the restore, as ``relevance init`` would; tables the older schema lacks are dropped
in the restore's own transaction, so the migration can create them again); an unknown one (made by a newer Relevance
Studio) is refused and nothing changes.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from core.errors import (BackupExistsError, BackupFailedError, BackupToolMissing, InvalidInputError,
                         NotABackupError, SchemaMismatchError, StoreNotEmptyError)
from core.store.session import resolve, shown_url
from db import migrate
from db.session import BUSY_TIMEOUT_MS, dispose

COUNTED = ("labels", "queries", "products", "users")  # what the report shows, in this order
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
PG_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT",
          "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY"}  # URL query options libpq also reads from the environment


@dataclass(frozen=True)
class BackupReport:
    path: Path
    store: str  # the URL with its password hidden
    kind: str  # sqlite | postgresql
    revision: str
    counts: dict[str, int]
    bytes: int

    def summary(self) -> str:
        return (f"backed up {self.store} to {self.path} ({_size(self.bytes)}, schema {self.revision}): "
                f"{_counts_text(self.counts)}")


@dataclass(frozen=True)
class RestoreReport:
    path: Path
    store: str
    kind: str
    revision: str  # the store's revision after the restore (the head)
    counts: dict[str, int]
    migrated_from: str | None = None  # the backup's revision when it was older than the head

    def summary(self) -> str:
        schema = f"schema {self.revision}" + (f", migrated from {self.migrated_from}" if self.migrated_from else "")
        return f"restored {self.path} into {self.store} ({schema}): {_counts_text(self.counts)}"


def backup(dest: str | Path, url: str | None = None, *, force: bool = False,
           pg_bin: str | Path | None = None) -> BackupReport:
    """Write a consistent backup of the store at ``url`` (default: the configured one) to ``dest``.

    ``dest`` is refused when it exists unless ``force``. ``pg_bin`` is the folder of ``pg_dump``
    (default: ``PATH``, then Debian's /usr/lib/postgresql/*/bin). Returns where, how big, the schema
    revision and the counts of labels, queries, products and users.
    """
    url = resolve(url)
    kind = _kind(url)
    dest = Path(dest)
    if dest.is_dir():
        raise InvalidInputError(f"{dest} is a folder; give a file name such as {dest / 'relevance.backup'}")
    if dest.exists() and not force:
        raise BackupExistsError(f"{dest} exists; choose another name or replace it with --force")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(dest)
    try:
        if kind == "sqlite":
            revision, counts = _backup_sqlite(_sqlite_path(url), tmp)
        else:
            revision, counts = _backup_postgres(url, tmp, _tool("pg_dump", pg_bin))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupReport(dest, shown_url(url), kind, revision, counts, dest.stat().st_size)


def restore(src: str | Path, url: str | None = None, *, force: bool = False,
            pg_bin: str | Path | None = None) -> RestoreReport:
    """Replace the store at ``url`` (default: the configured one) by the backup ``src``, all or nothing.

    ``src`` is a file ``backup`` wrote from a store of the same kind. Without ``force`` only a store that
    holds no data is restored into. ``pg_bin`` as for ``backup``. Returns the store's schema revision, the
    backup's when it was migrated, and the counts restored.
    """
    url = resolve(url)
    kind = _kind(url)
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"no backup file {src}")
    _check_magic(src, kind)
    dispose(url)
    try:
        if kind == "sqlite":
            return _restore_sqlite(src, url, force)
        return _restore_postgres(src, url, force, _tool("pg_restore", pg_bin))
    finally:
        dispose(url)


# ------------------------------------------------------------------------------------------ shared

def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInputError(f"backup and restore support SQLite and PostgreSQL stores, not {backend}")
    return backend


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise InvalidInputError(f"{url} is an in-memory SQLite store; only a store in a file can be backed up")
    return Path(database)


def _temp_beside(path: Path) -> Path:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


def _check_magic(src: Path, kind: str) -> None:
    with open(src, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC if kind == "sqlite" else PG_MAGIC):
        return
    if head.startswith(PG_MAGIC):
        got = "a PostgreSQL backup (pg_dump); restore it into a PostgreSQL store (--db postgresql+psycopg://...)"
    elif head.startswith(SQLITE_MAGIC):
        got = "a SQLite backup; restore it into a SQLite store (--db sqlite:///FILE)"
    else:
        got = "neither a SQLite nor a pg_dump backup"
    raise NotABackupError(f"{src} is {got}; the store is {kind}")


def _head() -> tuple[str, list[str]]:
    """The code's Alembic head and every revision it knows."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    return script.get_current_head(), [r.revision for r in script.walk_revisions()]


def _migrated_from(revision: str | None, src: Path) -> str | None:
    """None when ``revision`` is the head; the revision when it is older; refused when unknown or missing."""
    if revision is None:
        raise NotABackupError(f"{src} has no schema revision (no alembic_version): it is not a backup of a "
                              "Relevance Studio store")
    head, known = _head()
    if revision == head:
        return None
    if revision not in known:
        raise SchemaMismatchError(f"{src} has schema revision {revision}, which this version does not know "
                                  f"(its newest is {head}): a newer Relevance Studio made it; restore it with "
                                  "that version; nothing was changed")
    return revision


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1e3:.1f} KB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts.get(t, 0):,} {t}" for t in COUNTED)


# ------------------------------------------------------------------------------------------ SQLite

def _sqlite_tables(con: sqlite3.Connection) -> set[str]:
    return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}


def _sqlite_facts(con: sqlite3.Connection) -> tuple[str | None, dict[str, int]]:
    """(Alembic revision or None, counts of COUNTED tables)."""
    tables = _sqlite_tables(con)
    revision = None
    if "alembic_version" in tables:
        revision = (con.execute("SELECT version_num FROM alembic_version").fetchone() or [None])[0]
    return revision, {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in COUNTED if t in tables}


def _backup_sqlite(path: Path, tmp: Path) -> tuple[str, dict[str, int]]:
    if not path.is_file():
        raise FileNotFoundError(f"no store at {path}; nothing to back up (run `relevance init` first)")
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as live, closing(sqlite3.connect(tmp)) as out:
        live.backup(out)  # all pages in one step: one read transaction, one consistent snapshot
        out.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        revision, counts = _sqlite_facts(out)
    if revision is None:
        raise NotABackupError(f"the store {path} has no schema yet; run `relevance init` first")
    return revision, counts


def _restore_sqlite(src: Path, url: str, force: bool) -> RestoreReport:
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_sqlite_data(path, url, force)
    tmp = _temp_beside(path)
    try:
        try:
            with closing(sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True)) as con, \
                    closing(sqlite3.connect(tmp)) as copy:
                if con.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                    raise NotABackupError(f"{src} is a damaged SQLite file (quick_check failed); nothing was changed")
                revision, _ = _sqlite_facts(con)
                con.backup(copy)
        except sqlite3.DatabaseError as exc:
            raise NotABackupError(f"{src} cannot be read as a SQLite backup ({exc}); nothing was changed") from exc
        migrated_from = _migrated_from(revision, src)
        if migrated_from:
            tmp_url = f"sqlite:///{tmp}"
            migrate.upgrade(tmp_url)
            dispose(tmp_url)
        with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as live, closing(sqlite3.connect(tmp)) as copy:
            _match_page_size(copy, live)
            _refuse_sqlite_data(path, url, force)
            copy.backup(live)  # one step: the live store changes in one write transaction
            live.execute("PRAGMA journal_mode=WAL")
            revision, counts = _sqlite_facts(live)
    finally:
        for p in (tmp, Path(f"{tmp}-journal"), Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            p.unlink(missing_ok=True)
    return RestoreReport(src, shown_url(url), "sqlite", revision, counts, migrated_from)


def _refuse_sqlite_data(path: Path, url: str, force: bool) -> None:
    if force or not path.is_file():
        return
    with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000)) as live:
        full = [t for t in _sqlite_tables(live) - {"alembic_version"}
                if live.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]
    if full:
        raise StoreNotEmptyError(f"the store {shown_url(url)} holds data ({', '.join(sorted(full))}); restoring "
                                 "replaces all of it: back it up first, then restore with --force")


def _match_page_size(copy: sqlite3.Connection, live: sqlite3.Connection) -> None:
    """A WAL database cannot change its page size, so the copy takes the live store's before the backup."""
    size = live.execute("PRAGMA page_size").fetchone()[0]
    if copy.execute("PRAGMA page_size").fetchone()[0] != size:
        copy.execute(f"PRAGMA page_size={int(size)}")
        copy.execute("VACUUM")


# ------------------------------------------------------------------------------------------ PostgreSQL

def _tool(name: str, pg_bin: str | Path | None) -> str:
    debian = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: (len(str(p)), str(p)))
    found = shutil.which(name, path=str(pg_bin)) if pg_bin is not None else shutil.which(name) or (
        str(debian[-1]) if debian else None)  # Debian's newest version
    if not found:
        where = f"in {pg_bin}" if pg_bin is not None else "on PATH or in /usr/lib/postgresql/*/bin"
        raise BackupToolMissing(f"{name} is not installed ({where}); install the PostgreSQL client of the "
                                "server's version (Debian: apt-get install postgresql-client)")
    return found


def _pg_env(url: str) -> tuple[dict[str, str], str]:
    """The environment libpq reads (password included) and the database name; nothing goes on argv."""
    u = make_url(url)
    if not u.database:
        raise InvalidInputError(f"{shown_url(url)} names no database")
    env = dict(os.environ)
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username), ("PGPASSWORD", u.password)):
        if value is not None:
            env[var] = str(value)
    for key, var in PG_ENV.items():
        value = u.query.get(key)
        if value is not None:
            env[var] = value if isinstance(value, str) else value[0]
    return env, u.database


def _restore_dropping(restore: list[str], src: Path, extra: list[str], database: str, env: dict[str, str]) -> None:
    """Restore an older schema's dump over a store with tables it lacks: its script, after dropping those
    tables, in one psql transaction (all or nothing, as ``--single-transaction``)."""
    script = _pg_run(restore + ["--file=-", str(src)], env, "pg_restore")
    drops = "".join(f'DROP TABLE IF EXISTS "{t}" CASCADE;\n' for t in extra)
    psql = str(Path(restore[0]).with_name("psql")) if os.sep in restore[0] else "psql"
    _pg_run([psql, "--single-transaction", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", f"--dbname={database}"],
            env, "psql", input=drops + script, after="; nothing was changed")


def _pg_run(cmd: list[str], env: dict[str, str], what: str, *, input: str | None = None, after: str = "") -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, input=input)
    if done.returncode != 0:
        said = " ".join(done.stderr.strip().splitlines()[-3:])
        raise BackupFailedError(f"{what} failed (exit {done.returncode}): {said[:500]}{after}")
    return done.stdout


def _pg_counts(conn) -> dict[str, int]:
    tables = set(inspect(conn).get_table_names())
    return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in COUNTED if t in tables}


def _backup_postgres(url: str, tmp: Path, pg_dump: str) -> tuple[str, dict[str, int]]:
    env, database = _pg_env(url)
    engine = create_engine(url, poolclass=NullPool, isolation_level="REPEATABLE READ")
    try:
        with engine.connect() as conn, conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            if "alembic_version" not in inspect(conn).get_table_names():
                raise NotABackupError(f"the store {shown_url(url)} has no schema yet; run `relevance init` first")
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            counts = _pg_counts(conn)
            # the transaction stays open while pg_dump reads the same snapshot
            _pg_run([pg_dump, "-Fc", f"--snapshot={snapshot}", "-f", str(tmp), f"--dbname={database}"], env, "pg_dump")
    finally:
        engine.dispose()
    return revision, counts


def _dump_facts(src: Path, pg_restore: str, env: dict[str, str]) -> tuple[str | None, set[str]]:
    """(the backup's Alembic revision, its tables), read from the file without a server."""
    try:
        toc = _pg_run([pg_restore, "--list", str(src)], env, "pg_restore --list")
    except BackupFailedError as exc:
        raise NotABackupError(f"{src} cannot be read as a pg_dump backup ({exc}); nothing was changed") from exc
    tables = {m.group(1) for m in re.finditer(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", toc, re.M)}
    if "alembic_version" not in tables:
        return None, tables
    data = _pg_run([pg_restore, "--data-only", "--table=alembic_version", "-f", "-", str(src)], env,
                   "pg_restore --data-only")
    m = re.search(r"^COPY \S*alembic_version .*FROM stdin;\n(.*?)\n\\\.", data, re.M | re.S)
    return (m.group(1).strip() or None) if m else None, tables


def _restore_postgres(src: Path, url: str, force: bool, pg_restore: str) -> RestoreReport:
    env, database = _pg_env(url)
    revision, dump_tables = _dump_facts(src, pg_restore, env)
    migrated_from = _migrated_from(revision, src)
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            full = sorted(t for t in tables - {"alembic_version"}
                          if conn.execute(text(f'SELECT EXISTS (SELECT 1 FROM "{t}")')).scalar_one())
        extra = sorted(tables - dump_tables)
        if full and not force:
            raise StoreNotEmptyError(f"the store {shown_url(url)} holds data ({', '.join(full)}); restoring replaces "
                                     "all of it: back it up first, then restore with --force")
        restore = [pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges"]
        if extra and migrated_from:  # --clean would leave them, and the migration would then trip on them
            _restore_dropping(restore, src, extra, database, env)
        else:
            _pg_run(restore + ["--single-transaction", "--exit-on-error", f"--dbname={database}", str(src)], env,
                    "pg_restore")
        if migrated_from:
            migrate.upgrade(url)
            dispose(url)
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
            counts = _pg_counts(conn)
    finally:
        engine.dispose()
    return RestoreReport(src, shown_url(url), "postgresql", revision, counts, migrated_from)
