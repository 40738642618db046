"""Serving: ``core.serve.rank`` with a student artifact over the demo catalog, and its clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import EmptyQueryError, UnknownProductError
from core.models.student import StudentConfig, StudentWeights, save


@pytest.fixture
def served(hash_student_env, tmp_path, monkeypatch):
    """A random-weight student over the hash encoder, installed as artifacts/student."""
    from core.models import embeddings
    from core.models.features import FeatureBuilder, FeatureConfig

    catalog = hash_student_env
    schema = FeatureBuilder(catalog, FeatureConfig(encoder="hash")).schema
    n, rng = schema["n_features"], np.random.default_rng(0)
    w = StudentWeights([(rng.standard_normal((n, 8)).astype(np.float32), np.zeros(8, np.float32)),
                        (rng.standard_normal((8, 5)).astype(np.float32), np.zeros(5, np.float32))],
                       np.zeros(n, np.float32), np.ones(n, np.float32))
    save(tmp_path / "artifacts" / "student", w, schema, StudentConfig(hidden=(8,)), name="student")
    yield list(catalog.ids[:50])
    embeddings.get_encoder.cache_clear()


def test_rank_scores_candidates_in_input_order(served):
    from core.cache import get_scorer
    from core.serve import rank, ranked

    ids = served
    scores = rank("kindle paperwhite", ids)
    assert scores.shape == (50,) and ((scores >= 1) & (scores <= 5)).all()
    np.testing.assert_allclose(rank("kindle paperwhite", ids[::-1]), scores[::-1], rtol=1e-5)
    probs = get_scorer("student").predict_proba("kindle paperwhite", ids)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(scores, probs @ np.arange(1, 6), rtol=1e-5)  # the score is the expected level
    r = ranked("kindle paperwhite", ids, top_k=5)
    assert len(r.product_ids) == 5 and list(r.scores) == sorted(r.scores, reverse=True)
    assert r.scores[0] == pytest.approx(scores.max(), rel=1e-6)
    assert rank("kindle", []).shape == (0,)


@pytest.mark.parametrize("query", ["", "   ", "\t\n"], ids=["empty", "spaces", "tab-newline"])
def test_empty_query_is_a_clear_error(served, query):
    from core.serve import rank
    with pytest.raises(EmptyQueryError, match="empty or only whitespace"):
        rank(query, served[:3])
    with pytest.raises(EmptyQueryError):
        rank(query, [])


def test_unknown_products_are_named(served):
    from core.serve import rank
    with pytest.raises(UnknownProductError, match=r"2 unknown product id\(s\): 'NOPE1', 'NOPE2'.*import"):
        rank("kindle", [served[0], "NOPE1", "NOPE2"])
