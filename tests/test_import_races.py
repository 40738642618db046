"""Imports under races, query identity and what runs inside the write lock (issue 15, items 1, 4 and 5).

Runs on SQLite and a real PostgreSQL: identical imports at once (threads and separate `relevance` processes)
leave exactly one set of labels; the store's unique indexes refuse a forked label chain or a second first
label of an imported pair; a file's query_id stored for another text is a row error; derived ids have 64
bits; language detection runs before the write lock is taken.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from conftest import ROOT, snapshot
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from core.errors import ImportValidationError
from core.ingest import import_judgments, import_products, import_queries
from core.store.labels import current_labels
from core.store.session import session_scope
from core.text.queries import legacy_query_id_for, query_id_for
from db.models import Label, Product, Query

N_PRODUCTS, N_QUERIES = 12, 40


@pytest.fixture
def store(store_url, tmp_path):
    f = tmp_path / "products.jsonl"
    f.write_text("".join(json.dumps({"product_id": f"P{i}", "title": f"product {i}"}) + "\n"
                         for i in range(N_PRODUCTS)))
    import_products(f, url=store_url)
    return store_url


def _judgments(tmp_path, name="race.csv"):
    """N_QUERIES new queries × every product (the case where PostgreSQL used to die on queries' unique key)."""
    rows = [(f"race query {q}", f"P{p}", 1 + (q + p) % 5) for q in range(N_QUERIES) for p in range(N_PRODUCTS)]
    path = tmp_path / name
    pd.DataFrame(rows, columns=["query", "product_id", "level"]).to_csv(path, index=False)
    return path, len(rows)


def _assert_one_set(url, n_rows):
    with session_scope(url) as s:
        live = current_labels(s, "import:race")
        stored = s.scalar(select(func.count()).select_from(Label).where(Label.source == "import:race"))
        queries = s.scalar(select(func.count()).select_from(Query))
    assert len(live) == stored == n_rows, "exactly one label per judged pair, none duplicated"
    assert not live.duplicated(["query_pk", "product_pk", "rater"]).any()
    assert queries == N_QUERIES


@pytest.mark.parametrize("n", [2, 4])
def test_identical_imports_at_once_make_one_set_of_labels(store, tmp_path, n):
    path, n_rows = _judgments(tmp_path)
    start = threading.Barrier(n)

    def run(_):
        start.wait()
        return import_judgments(path, name="race", url=store)

    with ThreadPoolExecutor(n) as pool:
        reports = list(pool.map(run, range(n)))
    assert sorted(r.inserted for r in reports) == [0] * (n - 1) + [n_rows]
    assert sorted(r.unchanged for r in reports) == [0] + [n_rows] * (n - 1)
    _assert_one_set(store, n_rows)


def test_four_relevance_processes_import_the_same_file_once(store, tmp_path):
    """Separate `relevance import` processes, as two people at two terminals would run them."""
    path, n_rows = _judgments(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "core", "--db", store, "import", "judgments", str(path), "--name", "race"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
             for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [o[1][-2000:] for o in outs]
    said = sorted(o[0] for o in outs)
    assert sum(f"{n_rows} new" in o for o in said) == 1, said
    assert sum(f"0 new, 0 updated, {n_rows} unchanged" in o for o in said) == 3, said
    _assert_one_set(store, n_rows)


def test_concurrent_query_logs_count_each_query_once(store, tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"query": [f"log query {i}" for i in range(50)], "count": 3}).to_csv(path, index=False)
    with ThreadPoolExecutor(3) as pool:
        reports = list(pool.map(lambda _: import_queries(path, name="log", url=store), range(3)))
    assert sorted(r.inserted for r in reports) == [0, 0, 50]
    with session_scope(store) as s:
        assert s.scalar(select(func.count()).select_from(Query)) == 50
        assert s.scalar(select(func.sum(Query.count))) == 150


def _one_import_label(url, tmp_path):
    j = tmp_path / "one.csv"
    j.write_text("query,product_id,level\nred shoes,P1,5\n")
    import_judgments(j, name="one", url=url)
    with session_scope(url) as s:
        return s.execute(select(Label.id, Label.query_pk, Label.product_pk)).one()


def test_the_store_refuses_a_second_first_label_of_an_imported_pair(store, tmp_path):
    _, q, p = _one_import_label(store, tmp_path)
    with pytest.raises(IntegrityError), session_scope(store) as s:
        s.execute(insert(Label), [dict(query_pk=q, product_pk=p, level=3, rater=None, source="import:one")])
    # another source or another rater is another chain
    with session_scope(store) as s:
        s.execute(insert(Label), [dict(query_pk=q, product_pk=p, level=3, rater=None, source="import:two"),
                                  dict(query_pk=q, product_pk=p, level=3, rater="r1", source="import:one")])


def test_the_store_refuses_a_forked_label_chain(store, tmp_path):
    first, q, p = _one_import_label(store, tmp_path)
    with session_scope(store) as s:
        s.execute(insert(Label), [dict(query_pk=q, product_pk=p, level=2, source="import:one", supersedes_id=first)])
    with pytest.raises(IntegrityError), session_scope(store) as s:
        s.execute(insert(Label), [dict(query_pk=q, product_pk=p, level=4, source="import:one", supersedes_id=first)])


# ------------------------------------------------------------------------------------------ query identity

def test_a_query_id_stored_for_another_text_is_a_row_error(store, tmp_path):
    _one_import_label(store, tmp_path)
    qid = query_id_for("red shoes")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"query_id,query,product_id,level\n{qid},zzz other,P3,2\n{qid},zzz other,P4,1\n,fine,P2,3\n")
    before = snapshot(store)
    with pytest.raises(ImportValidationError, match=r"row 1: query_id: query_id '\w+' is stored for the query "
                                                    r"'red shoes', not 'zzz other'"):
        import_judgments(bad, name="bad", url=store)
    assert snapshot(store) == before
    report = import_judgments(bad, name="bad", url=store, skip_bad_rows=True)  # every row of that id is refused
    assert report.inserted == 1 and len(report.skipped) == 1


def test_colliding_40_bit_ids_are_now_two_queries(store, tmp_path):
    a, b = "cheap usb cable 746867", "cheap usb cable 1326582"
    assert legacy_query_id_for(a) == legacy_query_id_for(b)  # the collision found in issue 15
    assert query_id_for(a) != query_id_for(b) and len(query_id_for(a)) == 17  # q + 64 bits
    f = tmp_path / "pair.csv"
    f.write_text(f"query,product_id,level\n{a},P1,5\n{b},P1,1\n")
    import_judgments(f, name="pair", url=store)
    with session_scope(store) as s:
        texts = dict(s.execute(select(Query.text, Query.id)).tuples().all())
        levels = dict(s.execute(select(Label.query_pk, Label.level)).tuples().all())
    assert set(texts) == {a, b}
    assert levels[texts[a]] == 5 and levels[texts[b]] == 1


def test_a_query_stored_under_its_legacy_id_keeps_its_labels(store, tmp_path):
    """A store made before 64-bit ids: a file without query_id finds the query by its old id and same text,
    never a query whose old id collides with another text."""
    old = tmp_path / "old.csv"
    old.write_text(f"query_id,query,product_id,level\n{legacy_query_id_for('Cheap USB cable 746867')},"
                   f"Cheap USB cable 746867,P1,5\n")
    import_judgments(old, name="log", url=store)
    new = tmp_path / "new.csv"
    new.write_text("query,product_id,level\ncheap  usb cable 746867,P2,4\ncheap usb cable 1326582,P3,2\n")
    import_judgments(new, name="log", url=store)
    with session_scope(store) as s:
        ids = dict(s.execute(select(Query.text, Query.query_id)).tuples().all())
        per_query = dict(s.execute(select(Query.query_id, func.count(Label.id)).join(Label, Label.query_pk == Query.id)
                                   .group_by(Query.query_id)).tuples().all())
    assert ids == {"Cheap USB cable 746867": "qb81b4ae7dc", "cheap usb cable 1326582": query_id_for("cheap usb cable 1326582")}
    assert per_query == {"qb81b4ae7dc": 2, query_id_for("cheap usb cable 1326582"): 1}


# ------------------------------------------------------------------------------------------ the write lock

def test_language_detection_runs_before_the_write_lock(store, tmp_path, monkeypatch):
    """A 1 MB query: while its language is detected a rater's label is written at once (the import holds no
    write lock yet); before, detection ran inside BEGIN IMMEDIATE and the rater got 'database is locked'."""
    from core.campaigns import CampaignSpec, create_campaign, next_task, submit_grade
    from core.ingest import validation
    from core.store.users import add_user

    seed = tmp_path / "seed.csv"
    seed.write_text("query,product_id,level\nred shoes,P1,5\nred shoes,P2,3\n")
    import_judgments(seed, name="seed", url=store)
    add_user("rita", "rater", "rita-password", url=store)
    create_campaign(CampaignSpec(name="c", n_tasks=2, raters=("rita",), candidates="store"), url=store)
    real, written = validation.detect_languages, []

    def detect_while_a_rater_labels(texts):
        task = next_task("c", "rita", url=store)
        written.append(submit_grade(task.assignment_id, "rita", 4, url=store))
        return real(texts)

    monkeypatch.setattr(validation, "detect_languages", detect_while_a_rater_labels)
    big = tmp_path / "big.csv"
    big.write_text("query,product_id,level\n" + "a" * 1_000_000 + ",P3,2\n")
    import_judgments(big, name="big", url=store)
    assert len(written) == 1
    with session_scope(store) as s:
        assert s.scalar(select(Label.level).where(Label.id == written[0])) == 4
        assert s.scalar(select(func.length(Query.text)).where(Query.text.like("aaaa%"))) == 1_000_000


def test_migration_refuses_a_store_left_with_duplicate_import_labels(tmp_path):
    """A store from before 0004 where the old race left two first labels of one imported pair: `relevance init`
    says what is wrong and how to list the rows, in one line, and migrates nothing."""
    from core.store.session import upgrade
    from db.session import dispose

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0003_accounts")
    with session_scope(url) as s:
        s.execute(insert(Query), [dict(query_id="q1", text="red shoes", language="en", count=0)])
        s.execute(insert(Product), [dict(product_id="P1", title="shoes")])
        s.execute(insert(Label), [dict(query_pk=1, product_pk=1, level=5, source="import:x")] * 2)
    dispose(url)
    out = subprocess.run([sys.executable, "-m", "core", "--db", url, "init"], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "RELEVANCE_DEMO": "0"})
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "1 cases of an imported pair with two first labels" in out.stderr and "SELECT query_pk" in out.stderr
    with session_scope(url) as s:
        assert s.scalar(text("SELECT version_num FROM alembic_version")) == "0003_accounts"
