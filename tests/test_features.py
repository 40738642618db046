"""Student features: text-match parsing worked out by hand, determinism, and the embedding cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.catalog import Catalog
from core.errors import EmptyQueryError, UnknownProductError
from core.models.embeddings import EmbeddingStore
from core.models.features import DENSE, FeatureBuilder, FeatureConfig, numbers, parse_query
from student_helpers import HashEncoder, small_catalog


@pytest.mark.parametrize("query,words,negated", [
    ("30 inch ceiling fan without light", ("30", "inch", "ceiling", "fan"), ("light",)),
    ("zapatillas sin cordones", ("zapatilla",), ("cordone",)),
    ("kaffeemaschine ohne milch", ("kaffeemaschine",), ("milch",)),
    ("sugar free gum", ("gum",), ("sugar",)),
    ("red towels for kitchen", ("red", "towel", "kitchen"), ()),
], ids=["en-without", "es-sin", "de-ohne", "en-free", "plain"])
def test_query_parsing(query, words, negated):
    pq = parse_query(query)
    assert pq.words == words and pq.negated == negated


@pytest.mark.parametrize("text,expected", [
    ('TV 55" 4K', {"#55", "55in", "u:in"}),
    ("2.50 lbs", {"#2.5", "2.5lb", "u:lb"}),
    ("1,5 l bottle", {"#1.5", "1.5l", "u:l"}),
    ("12-pack, 30 inches", {"#12", "12pack", "u:pack", "#30", "30in", "u:in"}),
    ("iphone 11", {"#11"}),
    ("no numbers", set()),
], ids=["inch-quote", "decimal-lb", "comma-litre", "pack-and-inches", "model-number", "none"])
def test_numbers_and_units(text, expected):
    assert numbers(text) == expected


@pytest.fixture
def hand_catalog() -> Catalog:
    return Catalog.from_frame(pd.DataFrame([
        {"product_id": "fan", "title": "Ceiling Fan with Light, 30 inch", "brand": "Breezy", "color": "White",
         "bullet_points": "quiet motor", "rating": 4.5, "rating_count": 99, "price": None},
        {"product_id": "fan2", "title": "Ceiling Fan, 52 inch, no light", "brand": "Breezy", "color": "Black",
         "bullet_points": "", "rating": None, "rating_count": None, "price": 80.0},
        {"product_id": "lamp", "title": "Desk lamp", "brand": "Acme", "color": None, "bullet_points": "LED light",
         "rating": 3.0, "rating_count": 1, "price": 20.0},
    ]))


@pytest.fixture
def hand_features(hand_catalog, tmp_path) -> FeatureBuilder:
    enc = HashEncoder()
    return FeatureBuilder(hand_catalog, encoder=enc, store=EmbeddingStore(enc, tmp_path / "emb"), default_language="en")


def test_dense_text_match_features_by_hand(hand_features):
    X = hand_features.transform("30 inch ceiling fan without light", ["fan", "fan2", "lamp"])
    f = {n: X[:, i] for i, n in enumerate(hand_features.dense_names)}
    # content words: 30, inch, ceiling, fan (light is negated)
    np.testing.assert_allclose(f["title_overlap"], [1.0, 0.75, 0.0])
    np.testing.assert_allclose(f["negated_in_title"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(f["unit_match"], [1.0, 0.0, 0.0])       # "30in"
    np.testing.assert_allclose(f["unit_mismatch"], [0.0, 1.0, 0.0])    # 52 inch is another size
    np.testing.assert_allclose(f["number_mismatch"], [0.0, 1.0, 0.0])  # lamp's title has no number at all
    np.testing.assert_allclose(f["query_negation"], 1.0)
    np.testing.assert_allclose(f["rating"], [0.9, 0.0, 0.6])
    np.testing.assert_allclose(f["rating_missing"], [0, 1, 0])
    np.testing.assert_allclose(f["price_missing"], [1, 0, 0])
    np.testing.assert_allclose(f["lang_en"], 1.0)
    assert f["bm25_rel"].max() == pytest.approx(1.0) and f["bm25_rel"][2] < f["bm25_rel"][0]
    q = hand_features.encoder.encode_queries(["30 inch ceiling fan without light"])[0]
    np.testing.assert_allclose(f["cosine"], hand_features.embeddings(np.arange(3)) @ q, rtol=1e-5)
    assert X.shape == (3, len(DENSE) + 5 + 3 * 16)


def test_brand_and_colour(hand_features):
    X = hand_features.transform("black breezy fan", ["fan", "fan2"])
    f = {n: X[:, i] for i, n in enumerate(hand_features.dense_names)}
    np.testing.assert_allclose(f["brand_in_query"], [1.0, 1.0])
    np.testing.assert_allclose(f["color_in_query"], [0.0, 1.0])
    np.testing.assert_allclose(f["color_mismatch"], [1.0, 0.0])


def test_features_are_deterministic_and_independent_of_the_batch(tmp_path):
    cat = small_catalog(120)
    ids = list(cat.ids[:40])
    a = FeatureBuilder(cat, encoder=HashEncoder(), store=EmbeddingStore(HashEncoder(), tmp_path / "e"))
    full = a.transform("kindle paperwhite waterproof", ids)
    np.testing.assert_array_equal(full, a.transform("kindle paperwhite waterproof", ids))
    np.testing.assert_array_equal(full[::-1][:7], a.transform("kindle paperwhite waterproof", ids[::-1][:7]))
    b = FeatureBuilder(cat, encoder=HashEncoder(), store=EmbeddingStore(HashEncoder(), tmp_path / "e"))
    np.testing.assert_array_equal(full, b.transform("kindle paperwhite waterproof", ids))
    pairs = pd.DataFrame({"query": ["kindle", "lamp", "kindle"], "product_id": [ids[0], ids[1], ids[2]]})
    np.testing.assert_array_equal(a.pairs(pairs)[[0, 2]], a.transform("kindle", [ids[0], ids[2]]))


def test_product_embeddings_are_cached_on_disk(tmp_path):
    cat = small_catalog(60)
    enc = HashEncoder()
    fb = FeatureBuilder(cat, encoder=enc, store=EmbeddingStore(enc, tmp_path / "emb"))
    fb.warm(list(cat.ids[:20]))
    assert enc.texts == 20
    fb.transform("lamp", list(cat.ids[:20]))
    assert enc.texts == 20, "in-memory cache"
    folder = tmp_path / "emb" / "hash-1"
    assert len(list(folder.glob("part-*.npy"))) == 1 and len(list(folder.glob("part-*.parquet"))) == 1
    enc2 = HashEncoder()
    fresh = FeatureBuilder(cat, encoder=enc2, store=EmbeddingStore(enc2, tmp_path / "emb"))
    np.testing.assert_array_equal(fresh.embeddings(np.arange(20)), fb.embeddings(np.arange(20)))
    assert enc2.texts == 0, "a new process reads the disk cache instead of embedding again"
    fresh.embeddings(np.arange(25))
    assert enc2.texts == 5 and len(list(folder.glob("part-*.npy"))) == 2, "only new texts, in a new part"
    assert len(EmbeddingStore(HashEncoder(), tmp_path / "emb")) == 25


def test_use_encoder_is_the_default_and_numpy_only():
    assert FeatureConfig().encoder == "use"
    from core.models.embeddings import get_encoder
    enc = get_encoder("use")
    v = enc.encode_queries(["zapatillas running", "running shoes", "kaffeemaschine"])
    assert v.shape == (3, 512) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2], "multilingual: the Spanish query is closer to its English translation"


def test_clear_errors(hand_features):
    with pytest.raises(EmptyQueryError):
        hand_features.transform("   ", ["fan"])
    with pytest.raises(UnknownProductError, match="'nope'"):
        hand_features.transform("fan", ["fan", "nope"])


def test_a_cache_of_many_small_parts_is_merged_when_opened(tmp_path):
    from core.models import embeddings

    texts = [f"product {i} with words" for i in range(embeddings.COMPACT_PARTS + 8)]
    store = EmbeddingStore(HashEncoder(), tmp_path / "e")
    for t in texts:  # one text per call: one part each, as a scoring job filling the cache batch by batch did
        store.get([t])
    folder = store.folder
    assert len(list(folder.glob("part-*.npy"))) == len(texts)
    expected = store.get(texts)
    reopened = EmbeddingStore(HashEncoder(), tmp_path / "e")
    assert len(list(folder.glob("part-*.npy"))) == len(list(folder.glob("part-*.parquet"))) == 1
    np.testing.assert_array_equal(reopened.get(texts), expected)
    assert reopened.get(["a new text"]).shape == (1, HashEncoder.dim)
    np.testing.assert_array_equal(EmbeddingStore(HashEncoder(), tmp_path / "e").get(texts + ["a new text"])[:-1],
                                  expected)
    np.testing.assert_array_equal(store.get(texts), expected)  # the old instance still answers (from memory)
