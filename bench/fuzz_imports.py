"""Property-based fuzzing of the three imports (products, judgments, query logs) with Hypothesis.

Each example is a generated file (CSV, JSONL or Parquet) mixing good values with the values that broke
imports before (over-long ids, NUL characters, inf and 1e400, counts past 2^31, JSON objects and lists,
booleans, empty cells, stray or repeated columns). The property: the import either succeeds, and then a
second import of the same file changes nothing, or it raises ImportValidationError whose every message
quotes at most ~80 characters of a value and the store is row for row as before. Anything else (a
traceback) is a failure. tests/test_import_fuzz.py runs a bounded number of examples on SQLite and
PostgreSQL; this script runs more and prints the counts (tried / imported / refused / tracebacks):

    .venv/bin/python bench/fuzz_imports.py --examples 300 --backend sqlite,postgres
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bench.store_snapshot import snapshot  # noqa: E402
from core.errors import ImportValidationError  # noqa: E402
from core.ingest import import_judgments, import_products, import_queries  # noqa: E402

KINDS = ("products", "judgments", "queries")
IMPORTERS = {"products": import_products, "judgments": import_judgments, "queries": import_queries}
PRODUCT_IDS = ("P1", "P2", "P3", "P4")
MAX_MESSAGE = 400  # a row error's message: its own words plus at most ~80 characters of the bad value

# ------------------------------------------------------------------------------------------ values

_nasty_numbers = st.sampled_from([math.inf, -math.inf, math.nan, 1e400, -1, -0.5, 2**31, 2**63, 2**64 + 1,
                                  10**30, 1.5, 0, 5, 4.999])
_nasty_texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", " ", "\t", "inf", "nan", "1e400", "-1", "=HYPERLINK(\"x\")", "null", "[]", "{}",
                     "a\x00b", "\x00", "ｑｕｅｒｙ", "😀" * 3, "line\nbreak", "  padded  "]),
    st.integers(65, 300).map(lambda n: "x" * n),
    st.just("y" * 70_000),
)
_nasty_structures = st.one_of(st.none(), st.booleans(), st.lists(st.text(max_size=5), max_size=3),
                              st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
                              st.lists(st.dictionaries(st.text(max_size=2), st.integers(), max_size=1), max_size=2))
NASTY = st.one_of(_nasty_numbers, _nasty_texts, _nasty_structures)

GOOD = {
    "product_id": st.sampled_from(PRODUCT_IDS + ("P5", "N1")),
    "title": st.sampled_from(["red shoes", "blue towel", "zapatillas"]),
    "brand": st.sampled_from(["Acme", "Breeze"]),
    "bullet_points": st.lists(st.sampled_from(["light", "red"]), max_size=2),
    "price": st.floats(0, 1000), "rating": st.floats(0, 5), "rating_count": st.integers(0, 1000),
    "language": st.sampled_from(["en", "es", "ja"]),
    "query": st.sampled_from(["red shoes", "towels", "fan without light", "zapatillas tenis"]),
    "query_id": st.sampled_from(["", "qa1", "qa2"]),
    "level": st.integers(1, 5), "esci_label": st.sampled_from(list("ESCI")), "rater": st.sampled_from(["", "r1", "r2"]),
    "date": st.sampled_from(["2025-01-01", "2025-01-02", ""]), "count": st.integers(0, 50),
}
COLUMNS = {
    "products": (("product_id", "title"), ("brand", "bullet_points", "price", "rating", "rating_count", "language")),
    "judgments": (("query", "product_id", "level"), ("query_id", "rater", "language")),
    "queries": (("query",), ("count", "date", "language", "query_id")),
}


@st.composite
def bad_files(draw, kind: str | None = None):
    """(kind, format, DataFrame of raw cells): mostly good values, some nasty ones, sometimes odd columns."""
    kind = kind or draw(st.sampled_from(KINDS))
    required, optional = COLUMNS[kind]
    cols = list(required) + draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
    if draw(st.integers(0, 9)) == 0:  # a stray, a missing or a repeated column
        cols = draw(st.sampled_from([cols + ["stray"], cols[1:], cols + [cols[0]], [c.upper() for c in cols]]))
    n = draw(st.integers(1, 5))
    rows = []
    for _ in range(n):
        rows.append([draw(st.one_of(GOOD.get(c, NASTY), NASTY) if draw(st.integers(0, 3)) == 0
                          else GOOD.get(c, NASTY)) for c in cols])
    fmt = draw(st.sampled_from(["csv", "jsonl", "parquet"]))
    return kind, fmt, cols, rows


def write(path_stem: Path, fmt: str, cols: list[str], rows: list[list]) -> Path:
    """The cells as the format can hold them: CSV and Parquet get text (lists as their repr), JSONL keeps types."""
    path = path_stem.with_suffix("." + fmt)
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(dict(zip(cols, r)), allow_nan=True) + "\n")
    else:
        frame = pd.DataFrame([[None if v is None else str(v) for v in r] for r in rows], columns=cols)
        if fmt == "csv":
            frame.to_csv(path, index=False)
        else:
            if len(set(cols)) < len(cols):  # Parquet cannot hold a repeated column name: write it as CSV
                path = path.with_suffix(".csv")
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
    return path


# ------------------------------------------------------------------------------------------ the property

def attempt(url: str, kind: str, path: Path) -> str:
    """Import ``path``; return "imported" or "refused", or raise AssertionError / the traceback's exception."""
    before = snapshot(url)
    try:
        IMPORTERS[kind](path, url=url, name="fuzz")
    except ImportValidationError as exc:
        assert exc.errors, "a refusal names at least one row or the file"
        long = [e.message for e in exc.errors if len(e.message) > MAX_MESSAGE]
        assert not long, f"error message too long ({len(long[0])} chars): {long[0][:200]}…"
        assert snapshot(url) == before, "a refused import changed the store"
        return "refused"
    again = IMPORTERS[kind](path, url=url, name="fuzz")
    assert again.inserted == again.updated == 0, f"a second import of the same file changed {again.summary()}"
    return "imported"


def seed(url: str, workdir: Path) -> None:
    """The products the judgments refer to."""
    path = workdir / "seed.jsonl"
    path.write_text("".join(json.dumps({"product_id": p, "title": f"product {p}"}) + "\n" for p in PRODUCT_IDS))
    import_products(path, url=url, name="seed")


def run(url: str, workdir: Path, examples: int, kind: str | None = None, *, keep_going: bool = False) -> Counter:
    """Try ``examples`` generated files on the store at ``url``; return the counts. A traceback fails the run
    (the test: derandomized, so CI sees the same files), or with ``keep_going`` is counted and the first
    three are printed (the benchmark: random files)."""
    tally: Counter = Counter()

    @settings(max_examples=examples, deadline=None, database=None, derandomize=not keep_going,
              suppress_health_check=list(HealthCheck))
    @given(bad_files(kind))
    def prop(case):
        k, fmt, cols, rows = case
        path = write(workdir / "fuzz", fmt, cols, rows)
        tally["tried"] += 1
        try:
            tally[attempt(url, k, path)] += 1
        except Exception:
            tally["tracebacks"] += 1
            if not keep_going:
                raise
            if tally["tracebacks"] <= 3:
                traceback.print_exc()
                print(k, fmt, cols, [[str(v)[:60] for v in r] for r in rows], file=sys.stderr)

    prop()
    return tally


def main(argv: list[str] | None = None) -> int:
    from bench.concurrency import _fresh_url, postgres_server

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=300, help="generated files per backend and kind")
    ap.add_argument("--backend", default="sqlite,postgres")
    ap.add_argument("--kinds", default=",".join(KINDS), help="file kinds to fuzz (products,judgments,queries)")
    args = ap.parse_args(argv)
    backends = args.backend.split(",")
    with tempfile.TemporaryDirectory() as tmp, (postgres_server() if "postgres" in backends else _null()) as server:
        for backend in backends:
            for kind in args.kinds.split(","):
                url = _fresh_url(backend, server, f"fuzz_{kind}", Path(tmp))
                seed(url, Path(tmp))
                tally = run(url, Path(tmp), args.examples, kind, keep_going=True)
                print(json.dumps({"backend": backend, "kind": kind, **{k: tally.get(k, 0) for k in
                                  ("tried", "imported", "refused", "tracebacks")}}), flush=True)
    return 0


class _null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    raise SystemExit(main())
