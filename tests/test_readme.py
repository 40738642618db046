"""Every Python example of the README runs as written (against a store holding the demo catalog).

``candidate_ids`` (the ranking example's input) is the only name the examples leave to the reader; it is
given here as the first demo products. The "Library in five lines" example also prints its table.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 2 and any("from core import" in b for b in BLOCKS)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"example{i + 1}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code, catalog_url, monkeypatch, capsys):
    from core.cache import get_catalog

    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    monkeypatch.chdir(ROOT)  # the examples use paths relative to the checkout
    namespace = {"candidate_ids": list(get_catalog().ids[:50])}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102  (the README's own code)
    if "format_table" in code:
        printed = capsys.readouterr().out
        assert "bm25" in printed and "random" in printed and "nDCG" in printed
