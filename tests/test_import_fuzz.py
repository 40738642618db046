"""Property-based test of the imports (issue 15, item 6): every generated bad file, on SQLite and PostgreSQL,
is either imported (and importing it again changes nothing) or refused with row errors that quote at most
~80 characters of a value, leaving the store unchanged — never a traceback. The generator and the property
live in bench/fuzz_imports.py, which runs many more examples (bench/RESULTS.md)."""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT))
from bench.fuzz_imports import KINDS, run, seed  # noqa: E402

EXAMPLES = 25  # per kind and database in CI (derandomized: the same files every run)


@pytest.mark.parametrize("kind", KINDS)
def test_generated_bad_files_are_imported_or_refused_never_a_traceback(store_url, tmp_path, kind):
    seed(store_url, tmp_path)
    tally = run(store_url, tmp_path, EXAMPLES, kind)
    assert tally["tried"] == EXAMPLES
    assert tally["imported"] + tally["refused"] == EXAMPLES and not tally["tracebacks"]
    assert tally["refused"] > 0  # the generator does produce bad files
