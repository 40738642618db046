"""Imports: every bad input gives a clear error naming rows and leaves the store unchanged;
good input imports once, and importing it again changes nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest
from conftest import DEMO, count, snapshot

from core.errors import ImportValidationError
from core.ingest import import_judgments, import_products, import_queries
from core.store.labels import current_labels
from core.store.session import session_scope

PRODUCTS = [
    {"product_id": "P1", "title": "Red running shoes", "brand": "Acme", "rating": 4.5, "rating_count": 10,
     "bullet_points": ["light", "red"], "category": ["Shoes", "Running"]},
    {"product_id": "P2", "title": "Blue kitchen towels", "description": "Cotton towels", "color": "blue"},
    {"product_id": "P3", "title": "Ceiling fan without light", "brand": "Breeze"},
    {"product_id": "P4", "title": "Zapatillas de tenis", "brand": "Lacoste"},
]


def _write(path, text: str | bytes):
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


@pytest.fixture
def store(store_url, tmp_path):
    """A store with 4 products and 3 judgments already in it (so 'unchanged' is a real check)."""
    f = tmp_path / "products.jsonl"
    f.write_text("\n".join(json.dumps(p) for p in PRODUCTS) + "\n")
    import_products(f, url=store_url)
    j = _write(tmp_path / "first.csv", "query,product_id,level\nred shoes,P1,5\nred shoes,P2,1\ntowels,P2,5\n")
    import_judgments(j, url=store_url)
    return store_url


def _assert_refused(url, path, match, fn=import_judgments, **kw):
    before = snapshot(url)
    with pytest.raises(ImportValidationError, match=match) as info:
        fn(path, url=url, **kw)
    assert snapshot(url) == before, "a refused import must leave the database unchanged"
    assert "nothing was imported" in str(info.value)
    return info.value


BAD_JUDGMENTS = [
    ("missing_columns", "query,level\nred shoes,5\n", r"missing required column: product_id \(found: query, level\)"),
    ("no_level_column", "query,product_id\nred shoes,P1\n", r"needs one of the columns level, esci_label, grade"),
    ("unknown_product", "query,product_id,level\nred shoes,P1,5\nred shoes,NOPE,4\n",
     r"row 2: product_id: unknown product_id 'NOPE'"),
    ("level_out_of_range", "query,product_id,level\nred shoes,P1,5\nred shoes,P3,7\nred shoes,P4,0\n",
     r"row 2: level: '7' is not on the 5pt scale(.|\n)*row 3: level: '0'"),
    ("level_not_a_number", "query,product_id,level\nred shoes,P1,high\n", r"row 1: level: 'high' is not on the 5pt scale"),
    ("empty_query", "query,product_id,level\n,P1,5\n   ,P2,3\nok,P3,4\n",
     r"row 1: query: empty or whitespace-only query(.|\n)*row 2: query: empty"),
    ("duplicate_rows", "query,product_id,level\nred shoes,P1,5\nfans,P3,4\nRed  Shoes,P1,4\n",
     r"row 3: duplicate judgment.*same as row 1"),
    ("bad_esci_label", "query,product_id,esci_label\nred shoes,P1,X\n", r"'X' is not on the esci scale"),
    ("bad_language", "query,product_id,level,language\nred shoes,P1,5,english\n", r"row 1: language: 'english' is not an ISO 639-1"),
    ("header_only", "query,product_id,level\n", r"header but no data rows"),
]


@pytest.mark.parametrize("content,match", [(c, m) for _, c, m in BAD_JUDGMENTS], ids=[i for i, _, _ in BAD_JUDGMENTS])
def test_bad_judgments_are_refused_and_change_nothing(store, tmp_path, content, match):
    _assert_refused(store, _write(tmp_path / "bad.csv", content), match)


def test_every_bad_row_is_reported_not_only_the_first(store, tmp_path):
    rows = "".join(f"q{i},NOPE{i},5\n" for i in range(30))
    err = _assert_refused(store, _write(tmp_path / "bad.csv", "query,product_id,level\n" + rows), "30 errors")
    assert [e.row for e in err.errors] == list(range(1, 31))
    assert "… and 10 more" in str(err)


@pytest.mark.parametrize("payload,match", [
    (b"", r"the file is empty \(0 bytes\)"),
    ("query,product_id,level\nca\u00f1a,P1,5\n".encode("latin-1"), r"not valid UTF-8: byte 0xf1 at line 2"),
    (b"  \n\n ", r"only whitespace"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", r"(binary data|not valid UTF-8)"),
], ids=["zero_bytes", "latin1_bytes", "whitespace_only", "binary_in_csv"])
def test_unreadable_files_are_refused(store, tmp_path, payload, match):
    _assert_refused(store, _write(tmp_path / "bad.csv", payload), match)


@pytest.mark.parametrize("file_name", ["labels.xlsx", "labels.png", "labels"], ids=["xlsx", "png", "no_extension"])
def test_wrong_file_type_is_refused(store, tmp_path, file_name):
    _assert_refused(store, _write(tmp_path / file_name, b"query,product_id,level\nx,P1,5\n"), r"unsupported file type")


def test_parquet_extension_on_a_csv_is_refused(store, tmp_path):
    _assert_refused(store, _write(tmp_path / "x.parquet", "query,product_id,level\nx,P1,5\n"), r"not a Parquet file")


def test_missing_file(store, tmp_path):
    _assert_refused(store, tmp_path / "nope.csv", r"no such file")


def test_good_judgments_import_once_and_reimport_changes_nothing(store, tmp_path):
    f = _write(tmp_path / "good.csv", "query,product_id,esci_label\nfans,P3,E\nfans,P1,I\nzapatillas tenis,P4,S\n")
    r = import_judgments(f, url=store)
    assert (r.rows, r.inserted, r.updated, r.unchanged) == (3, 3, 0, 0)
    before = snapshot(store)
    del before["imports"]
    r2 = import_judgments(f, url=store)
    assert (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 3)
    after = snapshot(store)
    del after["imports"]
    assert after == before
    with session_scope(store) as s:
        labels = current_labels(s, "import:good")
    assert sorted(labels["level"]) == [1, 4, 5]


def test_changed_level_supersedes_instead_of_overwriting(store, tmp_path):
    _write(tmp_path / "j.csv", "query,product_id,level\nfans,P3,5\n")
    import_judgments(tmp_path / "j.csv", url=store)
    _write(tmp_path / "j.csv", "query,product_id,level\nfans,P3,3\n")
    r = import_judgments(tmp_path / "j.csv", url=store)
    assert (r.inserted, r.updated) == (0, 1)
    with session_scope(store) as s:
        cur = current_labels(s, "import:j")
    assert cur["level"].tolist() == [3]
    assert count(store, "labels") == 3 + 2, "both labels are kept (append-only)"


@pytest.mark.parametrize("scale,grades,levels", [
    ("0-3", ["3", "2", "1", "0"], [5, 4, 3, 1]),
    ("esci", ["E", "s", "C", "I"], [5, 4, 3, 1]),
    ("5pt", ["5", "4", "2", "1"], [5, 4, 2, 1]),
    ("bad=1,meh=3,great=5,ok=4", ["great", "ok", "meh", "bad"], [5, 4, 3, 1]),
    ('{"A": 5, "B": 4, "C": 2, "D": 1}', ["A", "B", "C", "D"], [5, 4, 2, 1]),
], ids=["0-3", "esci", "5pt", "custom", "custom_json"])
def test_scales_map_onto_five_levels(store, tmp_path, scale, grades, levels):
    rows = "".join(f"scale query,{p},{g}\n" for p, g in zip(["P1", "P2", "P3", "P4"], grades))
    f = _write(tmp_path / "g.csv", "query,product_id,grade\n" + rows)
    import_judgments(f, url=store, scale=scale)
    with session_scope(store) as s:
        got = current_labels(s, "import:g").sort_values("product_pk")["level"].tolist()
    assert got == levels


def test_grade_column_needs_a_scale(store, tmp_path):
    _assert_refused(store, _write(tmp_path / "g.csv", "query,product_id,grade\nx,P1,3\n"), r"needs --scale")


def test_custom_scale_onto_bad_levels_is_an_error(store, tmp_path):
    f = _write(tmp_path / "g.csv", "query,product_id,grade\nx,P1,a\n")
    with pytest.raises(ValueError, match="every grade must map to a level 1–5"):
        import_judgments(f, url=store, scale="a=9")


def test_language_column_overrides_detection(store, tmp_path):
    f = _write(tmp_path / "l.csv", "query,product_id,level,language\nred running shoes for men,P1,5,de\n"
                                   "zapatillas de tenis para hombre,P4,5,\n")
    import_judgments(f, url=store)
    from db.models import Query
    from sqlalchemy import select
    with session_scope(store) as s:
        langs = dict(s.execute(select(Query.text, Query.language)).tuples().all())
    assert langs["red running shoes for men"] == "de"
    assert langs["zapatillas de tenis para hombre"] == "es"


def test_skip_bad_rows_imports_the_rest_and_reports(store, tmp_path):
    f = _write(tmp_path / "s.csv", "query,product_id,level\nfans,P3,5\n ,P1,4\nfans,NOPE,3\n")
    r = import_judgments(f, url=store, skip_bad_rows=True)
    assert r.inserted == 1 and [e.row for e in r.skipped] == [2, 3]


def test_parquet_and_gzip_judgments(store, tmp_path):
    df = pd.DataFrame({"query": ["fans", "fans"], "product_id": ["P3", "P1"], "level": [5, 2]})
    df.to_parquet(tmp_path / "j.parquet")
    assert import_judgments(tmp_path / "j.parquet", url=store).inserted == 2
    with gzip.open(tmp_path / "k.csv.gz", "wt") as g:
        g.write("query,product_id,level\nfans,P4,1\n")
    assert import_judgments(tmp_path / "k.csv.gz", url=store).inserted == 1


# ------------------------------------------------------------------------------------------ products

def test_products_reimport_changes_nothing_and_edits_update(store, tmp_path):
    f = tmp_path / "products.jsonl"
    before = count(store, "products")
    r = import_products(f, url=store)
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 4)
    changed = [dict(p) for p in PRODUCTS]
    changed[1]["title"] = "Blue kitchen towels, 6 pack"
    f.write_text("\n".join(json.dumps(p) for p in changed) + "\n")
    r = import_products(f, url=store)
    assert (r.inserted, r.updated, r.unchanged) == (0, 1, 3)
    assert count(store, "products") == before


@pytest.mark.parametrize("rows,match", [
    ([{"product_id": "X1"}], r"missing required column: title"),
    ([{"product_id": "X1", "title": ""}], r"row 1: title: missing title"),
    ([{"product_id": "X1", "title": "a"}, {"product_id": "X1", "title": "b"}], r"row 2: product_id: duplicate product_id 'X1' \(first on row 1\)"),
    ([{"product_id": "X1", "title": "a", "rating": 9}], r"row 1: rating: 9 is out of range \[0, 5\]"),
    ([{"product_id": "X1", "title": "a", "rating_count": "many"}], r"row 1: rating_count: 'many' is not a whole number"),
    ([{"product_id": "", "title": "a"}], r"row 1: product_id: missing product_id"),
], ids=["no_title_column", "empty_title", "duplicate", "rating_range", "count_type", "empty_id"])
def test_bad_products_are_refused(store, tmp_path, rows, match):
    f = _write(tmp_path / "p.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    _assert_refused(store, f, match, fn=import_products)


def test_products_csv_with_non_utf8_is_refused(store, tmp_path):
    f = _write(tmp_path / "p.csv", "product_id,title\nX1,Espa\xf1a\n".encode("latin-1"))
    _assert_refused(store, f, r"not valid UTF-8", fn=import_products)


def test_jsonl_that_is_not_json(store, tmp_path):
    _assert_refused(store, _write(tmp_path / "p.jsonl", "{not json\n"), r"row 1: not valid JSON", fn=import_products)


# ------------------------------------------------------------------------------------------ query log

def test_query_log_sums_counts_and_is_idempotent(store, tmp_path):
    f = _write(tmp_path / "log.csv", "query,date,count\nred shoes,2025-01-01,3\nred shoes,2025-01-02,4\n"
                                     "lamp,2025-01-01,1\nLamp ,2025-01-01,2\n")
    r = import_queries(f, url=store)
    assert r.inserted == 3, "'lamp' and 'Lamp ' on one date are one query-log entry"
    from db.models import Query
    from sqlalchemy import select
    with session_scope(store) as s:
        counts = dict(s.execute(select(Query.text, Query.count)).tuples().all())
    assert counts["red shoes"] == 7 and counts["lamp"] == 3
    before = snapshot(store)
    del before["imports"]
    assert import_queries(f, url=store).unchanged == 3
    after = snapshot(store)
    del after["imports"]
    assert after == before


def test_shared_query_log_empty_query_is_a_clear_error(store):
    err = _assert_refused(store, DEMO / "query_log.csv", r"row 1: query: empty or whitespace-only query",
                          fn=import_queries)
    assert len(err.errors) == 1


@pytest.mark.parametrize("content,match", [
    ("date,count\n2025-01-01,3\n", r"missing required column: query"),
    ("query,count\nlamp,-2\n", r"row 1: count: '-2' is out of range \[0, 2,147,483,647\]"),
    ("query,date\nlamp,2025-01-01\nlamp,2025-01-01\n", r"row 2: duplicate query-log row"),
], ids=["no_query_column", "negative_count", "duplicate"])
def test_bad_query_logs_are_refused(store, tmp_path, content, match):
    _assert_refused(store, _write(tmp_path / "log.csv", content), match, fn=import_queries)


def test_demo_judgments_import_on_the_demo_catalog(catalog_url):
    r = import_judgments(DEMO / "judgments.csv", name="esci_us", url=catalog_url)
    assert r.rows == 5361 and r.inserted == 5361 and not r.skipped
    assert count(catalog_url, "queries") == 120


def test_importing_before_init_says_run_init(tmp_path, capsys):
    from core.cli.main import main

    url = f"sqlite:///{tmp_path / 'never-initialised.db'}"
    assert main(["--db", url, "import", "judgments", str(DEMO / "judgments.csv")]) == 2
    err = capsys.readouterr().err
    assert "has no tables yet; run `relevance init` first" in err and "Traceback" not in err


def test_init_never_prints_the_password():
    from core.store.session import shown_url
    from core.workflows.init import InitReport

    url = "postgresql+psycopg://bob:s3cret-pw@db.example:5432/relevance"
    assert "s3cret-pw" not in InitReport(url).summary() and "bob:***@db.example" in shown_url(url)


@pytest.mark.parametrize("lines,expected", [
    (['{"product_id": "P1", "title": "lamp"}', "[1, 2]", "null", "42", '"text"'],
     ["row 2: each line must be a JSON object; got an array", "row 3: each line must be a JSON object; got null",
      "row 4: each line must be a JSON object; got a number", "row 5: each line must be a JSON object; got a string"]),
    (['{"product_id": "P1", "title": "lamp"}', '{"product_id": "P2", "title": '],
     ["row 2: not valid JSON"]),
], ids=["not-objects", "broken-json"])
def test_jsonl_lines_that_are_not_objects_are_row_errors(catalog_url, tmp_path, lines, expected):
    f = tmp_path / "p.jsonl"
    f.write_text("\n".join(lines) + "\n")
    before = snapshot(catalog_url)
    with pytest.raises(ImportValidationError) as exc:
        import_products(f, url=catalog_url)
    text = str(exc.value)
    assert all(e in text for e in expected), text
    assert snapshot(catalog_url) == before


def test_a_column_twice_after_trimming_is_a_file_error(catalog_url, tmp_path):
    f = tmp_path / "j.csv"
    f.write_text("query,product_id,level, level\nlamp,B0001,5,4\n")
    with pytest.raises(ImportValidationError, match="column 'level' appears more than once"):
        import_judgments(f, url=catalog_url)


def test_a_corrupt_parquet_page_is_a_file_error(store, tmp_path):
    """The footer reads, a data page does not (pyarrow raises OSError mid-file): one line, nothing written."""
    f = tmp_path / "corrupt.parquet"
    pd.DataFrame({"product_id": [f"C{i}" for i in range(5000)], "title": ["t" * 50] * 5000}).to_parquet(f, index=False)
    raw = bytearray(f.read_bytes())
    raw[200:2000] = b"\xab" * 1800
    f.write_bytes(bytes(raw))
    _assert_refused(store, f, r"file: could not parse as parquet: ", fn=import_products)


SCHEMA_CASES = [  # values PostgreSQL refused with a traceback and SQLite stored silently (issue 15, item 10)
    (import_products, "p.jsonl", json.dumps({"product_id": "X" * 65, "title": "a"}) + "\n",
     r"row 1: product_id: is 65 characters long; at most 64 fit"),
    (import_products, "p.jsonl", json.dumps({"product_id": "X1", "title": "a\u0000b"}) + "\n",
     r"row 1: title: contains a NUL character"),
    (import_products, "p.jsonl", json.dumps({"product_id": "X1", "title": "a", "rating_count": 2**31}) + "\n",
     r"row 1: rating_count: 2147483648 is out of range \[0, 2,147,483,647\]"),
    (import_products, "p.jsonl", '{"product_id": "X1", "title": "a", "price": 1e400}\n',
     r"row 1: price: inf is not a finite number"),
    (import_products, "p.jsonl", json.dumps({"product_id": "X1", "title": {"en": "a"}}) + "\n",
     r"row 1: title: expected text, got an object"),
    (import_judgments, "j.csv", "query,product_id,level,rater\nred shoes,P1,5," + "r" * 129 + "\n",
     r"row 1: rater: is 129 characters long; at most 128 fit"),
    (import_queries, "q.csv", "query,count\nlamp,99999999999999999999\n", r"row 1: count: '99999999999999999999' is out"),
]


@pytest.mark.parametrize("fn,name,content,match", SCHEMA_CASES, ids=[
    "long_id", "nul_text", "count_past_int32", "inf_price", "object_title", "long_rater", "huge_count"])
def test_values_the_columns_cannot_hold_are_row_errors(store, tmp_path, fn, name, content, match):
    _assert_refused(store, _write(tmp_path / name, content), match, fn=fn)


def test_a_huge_bad_value_is_quoted_short(store, tmp_path):
    """A 1 MB product id used to be echoed into a 1 MB error message; now ~80 characters of it."""
    err = _assert_refused(store, _write(tmp_path / "p.jsonl", json.dumps({"product_id": "Z" * 1_000_000,
                                                                         "title": "a"}) + "\n"),
                          r"is 1,000,000 characters long", fn=import_products)
    assert max(len(e.message) for e in err.errors) < 200


def test_an_import_name_that_does_not_fit_is_refused(store, tmp_path):
    _assert_refused(store, _write(tmp_path / "j.csv", "query,product_id,level\nred shoes,P1,5\n"),
                    r"name: the import's name is 122 characters long; at most 121 fit", name="n" * 122)
