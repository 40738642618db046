"""core.models.base: one interface for every model (score, rank -> Ranked; predict_proba for 5-class ones)."""

from __future__ import annotations

import numpy as np
import pytest

from core.models.base import LevelScorer, Ranked, Scorer
from core.models.registry import REGISTRY, available, entry


class Fixed(Scorer):
    name = "fixed"

    def __init__(self, scores: dict[str, float]):
        self.scores = scores

    def score(self, query, product_ids):
        return np.array([self.scores[p] for p in product_ids], dtype=float)


class Levels(LevelScorer):
    """Level probabilities by product id; counts the predict_proba calls."""

    name = "levels"

    def __init__(self, probs: dict[str, list[float]]):
        self.probs, self.calls = probs, []

    def predict_proba(self, query, product_ids):
        self.calls.append((query, tuple(product_ids)))
        return np.array([self.probs[p] for p in product_ids], dtype=float)


def test_rank_is_best_first_with_ties_in_input_order():
    s = Fixed({"a": 0.2, "b": 0.9, "c": 0.2, "d": 0.5})
    assert s.rank("q", ["a", "b", "c", "d"]) == Ranked(("b", "d", "a", "c"), (0.9, 0.5, 0.2, 0.2))
    assert s.rank("q", ["c", "a"], top_k=1) == Ranked(("c",), (0.2,))
    assert s.rank("q", []) == Ranked((), ())
    assert s.rank("q", ["a", "b", "c", "d"]).top_k(2) == Ranked(("b", "d"), (0.9, 0.5))


def test_level_scorer_scores_the_expected_level_and_groups_pairs_by_query():
    s = Levels({"x": [0, 0, 0, 0, 1], "y": [0.5, 0, 0, 0, 0.5], "z": [1, 0, 0, 0, 0]})
    np.testing.assert_allclose(s.score("q", ["x", "y", "z"]), [5.0, 3.0, 1.0])  # Σ level·p
    assert s.rank("q", ["z", "y", "x"]).product_ids == ("x", "y", "z")
    s.calls.clear()
    probs = s.predict_pairs(["q1", "q2", "q1"], [{"product_id": "x"}, {"product_id": "y"}, {"product_id": "z"}])
    np.testing.assert_allclose(probs, [[0, 0, 0, 0, 1], [0.5, 0, 0, 0, 0.5], [1, 0, 0, 0, 0]])
    assert s.calls == [("q1", ("x", "z")), ("q2", ("y",))]


def test_an_interface_method_left_out_is_an_error_at_construction():
    class NoScore(Scorer):
        pass

    class NoProba(LevelScorer):
        pass

    for cls in (NoScore, NoProba):
        with pytest.raises(TypeError, match="abstract"):
            cls()


def test_the_registry_is_a_table_of_factories():
    assert available() == ["bm25", "e5-cosine", "random", "student", "student-human", "student-mixed", "teacher",
                           "use-cosine"]
    assert available() == sorted(REGISTRY) and entry("bm25") is REGISTRY["bm25"]
    assert all(e.needs_catalog for e in REGISTRY.values())


def test_every_cheap_model_ranks_through_the_interface(catalog_url, monkeypatch):
    from core.cache import get_catalog, get_scorer

    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    cat = get_catalog()
    kindle = cat.products[cat.products["title"].str.contains("Kindle Paperwhite", na=False)].index[0]
    ids = [p for p in cat.ids[:30] if p != kindle] + [kindle]
    bm25 = get_scorer("bm25")
    assert isinstance(bm25, Scorer) and not isinstance(bm25, LevelScorer)
    assert bm25.rank("kindle paperwhite", ids, top_k=3).product_ids[0] == kindle
    r = get_scorer("random").rank("kindle paperwhite", ids)
    assert sorted(r.product_ids) == sorted(ids) and list(r.scores) == sorted(r.scores, reverse=True)
