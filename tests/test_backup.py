"""``relevance backup`` / ``restore`` (core/store/backup.py): round trips on SQLite and on a real PostgreSQL,
every refusal (and that it changes nothing), a backup taken while another thread imports labels, and the CLI."""

from __future__ import annotations

import sqlite3
import threading

import pandas as pd
import pytest
from conftest import DEMO, count, snapshot
from sqlalchemy import create_engine, text

from core.cli.main import main
from core.ingest import import_judgments, import_products
from core.errors import (BackupExistsError, BackupToolMissing, NotABackupError, SchemaMismatchError,
                         StoreNotEmptyError)
from core.store.backup import backup, restore
from core.store.users import add_user, list_users
from db.migrate import upgrade

QUERIES = 4  # the first three are the store's judgments; the fourth is the change made after the backup


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """A small catalog (the products of the first four demo queries) and one judgments file per query."""
    folder = tmp_path_factory.mktemp("backup_files")
    j = pd.read_csv(DEMO / "judgments.csv")
    queries = j["query_id"].drop_duplicates().tolist()[:QUERIES]
    j = j[j["query_id"].isin(queries)]
    products = pd.read_json(DEMO / "products.jsonl.gz", lines=True)
    products[products["product_id"].isin(set(j["product_id"]))].to_json(folder / "products.jsonl", orient="records",
                                                                        lines=True)
    out = {"products": folder / "products.jsonl"}
    j[j["query_id"].isin(queries[:3])].to_csv(out.setdefault("judgments", folder / "judgments.csv"), index=False)
    j[j["query_id"] == queries[3]].to_csv(out.setdefault("later", folder / "later.csv"), index=False)
    return out


def fill(url: str, files: dict) -> str:
    """Products, judgments of three queries and two users, through the real import and account functions."""
    import_products(files["products"], name="small", url=url)
    import_judgments(files["judgments"], name="small", url=url)
    add_user("ada", "admin", "ada-password", url=url)
    add_user("rita", "rater", "rita-password", url=url)
    return url


def store_counts(url: str) -> dict[str, int]:
    return {t: count(url, t) for t in ("labels", "queries", "products", "users")}


def head() -> str:
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def revision(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as c:
        rev = c.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    return rev


def new_pg_database(server: str, name: str) -> str:
    """An empty database (no tables) on the test server, as ``createdb NAME`` makes it."""
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{server}/{name}"


@pytest.fixture
def fresh_url(request, tmp_path):
    """A store of the same kind as ``store_url`` with no tables at all (a new file; ``createdb NEW``)."""
    if "postgres" not in request.node.callspec.params.get("store_url", ""):
        return f"sqlite:///{tmp_path / 'new' / 'fresh.db'}"
    return new_pg_database(request.getfixturevalue("pg_server"), f"fresh_{tmp_path.name[-40:]}".lower())


def test_round_trip_restores_the_backed_up_state_exactly(store_url, fresh_url, files, tmp_path):
    fill(store_url, files)
    saved = snapshot(store_url)
    file = tmp_path / "team.backup"

    report = backup(file, store_url)

    assert report.counts == store_counts(store_url) and report.counts["labels"] > 0 and report.counts["users"] == 2
    assert report.revision == head() and report.bytes == file.stat().st_size
    assert not [p for p in tmp_path.iterdir() if p.name != file.name and p.name.startswith(".")]  # no temp left
    import_judgments(files["later"], name="later", url=store_url)  # the store moves on after the backup
    add_user("rex", "researcher", "rex-password", url=store_url)
    assert snapshot(store_url) != saved

    restored = restore(file, store_url, force=True)

    assert snapshot(store_url) == saved
    assert restored.counts == report.counts and restored.revision == head() and restored.migrated_from is None
    assert sorted(u.name for u in list_users(store_url)) == ["ada", "rita"]  # the app's own reads work at once
    import_judgments(files["later"], name="later", url=store_url)  # and so do its writes
    assert count(store_url, "labels") > report.counts["labels"]

    into_new = restore(file, fresh_url)  # an empty store needs no --force

    assert snapshot(fresh_url) == saved and into_new.counts == report.counts and revision(fresh_url) == head()


def test_backup_refuses_an_existing_file_unless_forced(sqlite_url, files, tmp_path):
    fill(sqlite_url, files)
    file = tmp_path / "team.backup"
    file.write_bytes(b"yesterday")

    with pytest.raises(BackupExistsError, match="exists; choose another name or replace it with --force"):
        backup(file, sqlite_url)
    assert file.read_bytes() == b"yesterday"

    backup(file, sqlite_url, force=True)
    assert file.read_bytes().startswith(b"SQLite format 3\x00")


def test_a_failed_backup_leaves_no_file(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="run `relevance init` first"):
        backup(out / "team.backup", f"sqlite:///{tmp_path / 'missing.db'}")
    assert list(out.iterdir()) == []


def test_backup_without_pg_dump_says_what_to_install(tmp_path):
    with pytest.raises(BackupToolMissing, match=r"pg_dump is not installed .*apt-get install postgresql-client"):
        backup(tmp_path / "team.backup", "postgresql+psycopg://bob:secret@127.0.0.1:1/team", pg_bin=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_restore_refuses_a_store_that_holds_data(sqlite_url, files, tmp_path):
    file = tmp_path / "team.backup"
    backup(file, fill(sqlite_url, files))
    before = snapshot(sqlite_url)

    with pytest.raises(StoreNotEmptyError, match=r"holds data \(.*labels.*\).*back it up first, then restore with --force"):
        restore(file, sqlite_url)
    assert snapshot(sqlite_url) == before


def _not_a_store(path):
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE notes (x TEXT)")
    return path


@pytest.mark.parametrize("make, url, message", [
    (lambda p: p.write_text("query,product_id\n") and p, "sqlite:///{tmp}/s.db", "neither a SQLite nor a pg_dump backup"),
    (lambda p: p.write_bytes(b"PGDMP\x01\x0e\x00") and p, "sqlite:///{tmp}/s.db",
     r"a PostgreSQL backup \(pg_dump\); restore it into a PostgreSQL store"),
    (_not_a_store, "postgresql+psycopg://bob:secret@127.0.0.1:1/team", "a SQLite backup; restore it into a SQLite store"),
    (_not_a_store, "sqlite:///{tmp}/s.db", "no schema revision .* not a backup of a Relevance Studio store"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200) and p, "sqlite:///{tmp}/s.db",
     "cannot be read as a SQLite backup"),
], ids=["csv", "pg-dump-into-sqlite", "sqlite-into-postgres", "sqlite-not-a-store", "damaged-sqlite"])
def test_restore_refuses_a_file_that_is_not_a_backup_of_the_right_kind(make, url, message, tmp_path):
    file = make(tmp_path / "team.backup")
    url = url.format(tmp=tmp_path)

    with pytest.raises(NotABackupError, match=message):
        restore(file, url, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["team.backup"]  # no store, no temp file made


def test_restore_refuses_a_backup_of_a_newer_schema(sqlite_url, files, tmp_path):
    file = tmp_path / "future.backup"
    backup(file, fill(sqlite_url, files))
    with sqlite3.connect(file) as con:
        con.execute("UPDATE alembic_version SET version_num = '9999_future'")
    before = snapshot(sqlite_url)

    with pytest.raises(SchemaMismatchError, match=f"revision 9999_future, which this version does not know "
                                                  f"\\(its newest is {head()}\\)"):
        restore(file, sqlite_url, force=True)
    assert snapshot(sqlite_url) == before and revision(sqlite_url) == head()


def test_restore_migrates_a_backup_of_an_older_schema(tmp_path, files):
    old = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(old, "0002")
    import_products(files["products"], name="small", url=old)
    file = tmp_path / "old.backup"
    assert backup(file, old).revision == "0002"
    target = f"sqlite:///{tmp_path / 'new.db'}"

    report = restore(file, target)

    assert report.migrated_from == "0002" and report.revision == head() == revision(target)
    assert report.counts["products"] == count(old, "products") > 0
    add_user("ada", "admin", "ada-password", url=target)  # the head's columns are there
    with sqlite3.connect(file) as con:  # the backup itself is untouched
        assert con.execute("SELECT version_num FROM alembic_version").fetchone() == ("0002",)


def test_a_backup_taken_while_labels_are_written_is_consistent(sqlite_url, files, tmp_path):
    """Each import writes its labels and its ``imports`` row in one transaction: a consistent backup holds
    every label of each import it records and no label of an import it does not."""
    import_products(files["products"], name="small", url=sqlite_url)
    done, errors, stop = [], [], threading.Event()

    def writer():
        try:
            while not stop.is_set():
                import_judgments(files["judgments"], name=f"batch{len(done)}", url=sqlite_url)
                done.append(1)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        reports = []
        for i in range(3):
            _wait(lambda: len(done) >= 2 * (i + 1) or errors)
            reports.append(backup(tmp_path / f"live{i}.backup", sqlite_url))
        taken = len(done)
        _wait(lambda: len(done) >= taken + 1 or errors)
    finally:
        stop.set()
        thread.join(timeout=120)
    assert not errors

    for report in reports:
        with sqlite3.connect(report.path) as con:
            assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            imports = dict(con.execute("SELECT 'import:' || name, inserted FROM imports WHERE kind = 'judgments'"))
            labels = dict(con.execute("SELECT source, count(*) FROM labels GROUP BY source"))
        assert labels == imports and 0 < len(imports) < len(done)
        assert report.counts["labels"] == sum(imports.values())


def _wait(condition, seconds: float = 120) -> None:
    import time

    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "the writer thread made no progress"
        time.sleep(0.05)


def test_postgres_backup_hides_the_password_and_restore_refuses_a_full_store(pg_url, files, tmp_path):
    url = pg_url.replace("postgres@", "postgres:s3cret-pw@")  # the test server trusts 127.0.0.1, any password works
    fill(url, files)
    file = tmp_path / "pg.backup"

    report = backup(file, url)

    assert "s3cret-pw" not in report.summary() and "***" in report.store
    assert file.read_bytes()[:5] == b"PGDMP"
    before = snapshot(url)
    with pytest.raises(StoreNotEmptyError, match="restore with --force"):
        restore(file, url)
    assert snapshot(url) == before


def test_postgres_restore_migrates_a_backup_of_an_older_schema(pg_server, pg_url, files, tmp_path):
    old = new_pg_database(pg_server, f"old_{tmp_path.name[-40:]}".lower())
    upgrade(old, "0002")
    import_products(files["products"], name="small", url=old)
    file = tmp_path / "old.backup"
    assert backup(file, old).revision == "0002"
    add_user("ada", "admin", "ada-password", url=pg_url)  # the target is at the head and holds data

    report = restore(file, pg_url, force=True)

    assert report.migrated_from == "0002" and report.revision == head() == revision(pg_url)
    assert report.counts == {"labels": 0, "queries": 0, "products": count(old, "products"), "users": 0}
    add_user("ada", "admin", "ada-password", url=pg_url)  # the head's columns are there


def test_cli_backup_and_restore_print_one_line_each(sqlite_url, files, tmp_path, capsys):
    fill(sqlite_url, files)
    file = tmp_path / "team.backup"
    n = count(sqlite_url, "labels")

    assert main(["--db", sqlite_url, "backup", str(file)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"backed up {sqlite_url} to {file}") and f"{n:,} labels" in out[0]

    assert main(["--db", sqlite_url, "backup", str(file)]) == 2
    assert "exists; choose another name or replace it with --force" in capsys.readouterr().err
    assert main(["--db", sqlite_url, "restore", str(file)]) == 2
    assert "restore with --force" in capsys.readouterr().err

    assert main(["--db", sqlite_url, "restore", str(file), "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith(f"restored {file} into {sqlite_url} (schema {head()})")
