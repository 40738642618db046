"""BM25: every judged pair scored in one sparse product equals pair-by-pair scoring, and the index is cached on
disk by what it depends on (the products' text, stop words, tokenizer code), so a server start loads it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.catalog import Catalog
from core.models import rankers
from core.models.rankers import BM25Ranker

PRODUCTS = pd.DataFrame({
    "product_id": ["A", "B", "C", "D", "E"],
    "title": ["red running shoes", "blue kitchen towels", "ceiling fan without light", "ランニングシューズ 赤",
              "red red towel set"],
    "brand": ["Acme", None, "Breeze", "アシックス", "Home"],
    "description": ["light shoes", "", None, "軽い", "towels"],
})


def _catalog(df=PRODUCTS) -> Catalog:
    return Catalog.from_frame(df)


def test_pairs_at_once_equal_pair_by_pair(tmp_path):
    bm25 = BM25Ranker(_catalog(), cache_dir=tmp_path)
    queries = ["red shoes", "red red towel", "ランニング シューズ", "fan", "nothing known", "red shoes"]
    products = ["A", "E", "D", "C", "B", "E"]
    one_by_one = np.array([bm25.score(q, [p])[0] for q, p in zip(queries, products)])
    assert (one_by_one > 0).sum() >= 4  # real matches, not a table of zeros
    np.testing.assert_allclose(bm25.score_pairs(queries, products), one_by_one, rtol=1e-5)


def test_the_index_is_built_once_and_loaded_after(tmp_path, monkeypatch):
    first = BM25Ranker(_catalog(), cache_dir=tmp_path)
    (saved,) = [d for d in tmp_path.iterdir() if not d.name.startswith(".")]

    def no_tokenizing(*a, **k):
        raise AssertionError("a cached index must not be tokenized again")

    monkeypatch.setattr(rankers, "bm25_tokenize", no_tokenizing)
    again = BM25Ranker(_catalog(), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.score_all("red shoes"), first.score_all("red shoes"))
    changed = PRODUCTS.assign(title=PRODUCTS["title"].str.replace("red", "green"))
    with pytest.raises(AssertionError, match="must not be tokenized"):  # new text: a new key, so a new build
        BM25Ranker(_catalog(changed), cache_dir=tmp_path)
    assert [d for d in tmp_path.iterdir() if not d.name.startswith(".")] == [saved]


def test_an_index_removed_while_loading_is_built_again(tmp_path):
    """Another process may prune a cached index between the check and the load: build it instead of failing."""
    first = BM25Ranker(_catalog(), cache_dir=tmp_path)
    (saved,) = [d for d in tmp_path.iterdir() if not d.name.startswith(".")]
    for f in saved.iterdir():
        if f.name != "params.index.json":
            f.unlink()
    again = BM25Ranker(_catalog(), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.score_all("red shoes"), first.score_all("red shoes"))
