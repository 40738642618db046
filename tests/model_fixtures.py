"""Tiny randomly initialised models of the real architectures, and a tiny trained teacher, shared by
the model tests (loaded as a pytest plugin from conftest)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from core.models import e5
from core.models.teacher import TeacherConfig, train_teacher


@pytest.fixture(scope="session")
def tokenizer():
    return e5.load_tokenizer()


def _save_tiny(path, model, tok):
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory, tokenizer):
    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    # a wide init so that a random 2-layer BERT's first-token state still varies with its input
    cfg = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=256, initializer_range=0.5)
    return _save_tiny(tmp_path_factory.mktemp("tiny-bert"), BertModel(cfg), tokenizer)


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory, tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512)
    return _save_tiny(tmp_path_factory.mktemp("tiny-llama"), LlamaForCausalLM(cfg), tokenizer)


@pytest.fixture
def demo_catalog(catalog_url, monkeypatch):
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    from core.cache import get_catalog
    return get_catalog()


def labels_for(catalog, n_queries=10, per_query=6, seed=0) -> pd.DataFrame:
    """Each query is a product's title words; that product is level 5, random others mostly level 1."""
    rng = np.random.default_rng(seed)
    ids = list(catalog.ids)
    rows = []
    for i in range(n_queries):
        own = ids[i * 7]
        query = " ".join(str(catalog.products.at[own, "title"]).split()[:4])
        rows.append((f"q{i}", query, "en", own, 5))
        for p in rng.choice(ids[1000:], per_query - 1, replace=False):
            rows.append((f"q{i}", query, "en", p, int(rng.choice([1, 1, 2, 4]))))
    return pd.DataFrame(rows, columns=["query_id", "query", "language", "product_id", "level"])


@pytest.fixture(scope="session")
def _trained_once(tiny_encoder, tmp_path_factory, _catalog_template):
    """A tiny teacher trained once per test session (on a copy of the demo catalog's store)."""
    import shutil
    from core.cache import get_catalog
    folder = tmp_path_factory.mktemp("trained")
    shutil.copy(_catalog_template, folder / "store.db")
    catalog = get_catalog(f"sqlite:///{folder / 'store.db'}")
    labels = labels_for(catalog)
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=3e-3, dev_fraction=0.3, max_length=64,
                        checkpoint_every=2)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RELEVANCE_CACHE_DIR", str(folder / "cache"))
        result = train_teacher(labels, catalog, folder / "teacher", cfg, progress=False)
    return result, labels, cfg


@pytest.fixture
def trained(_trained_once, tmp_path):
    """That teacher's artifact, copied into this test's own folder (a test may train it on)."""
    import shutil
    from dataclasses import replace
    result, labels, cfg = _trained_once
    out = shutil.copytree(result.out, tmp_path / "teacher")
    return replace(result, out=out, layer_cache=None), labels, cfg




@pytest.fixture
def hash_student_env(catalog_url, tmp_path, monkeypatch):
    """The demo catalog with artifacts and caches in tmp_path and the fast, deterministic "hash"
    encoder registered; returns the catalog."""
    from core.models import embeddings
    from core.cache import get_catalog
    from student_helpers import HashEncoder

    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("RELEVANCE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setitem(embeddings.ENCODERS, "hash", HashEncoder)
    embeddings.get_encoder.cache_clear()
    return get_catalog()


def pointwise_labels(catalog, n=16) -> pd.DataFrame:
    """One judged product per query; queries 0 and 1 have the same text in two marketplaces."""
    ids = list(catalog.ids)
    rows = []
    for i in range(n):
        own = ids[2000 + i * 11]
        text = " ".join(str(catalog.products.at[own, "title"]).split()[:3])
        if i == 1:
            text = rows[0][1].upper()  # same query, other marketplace, other case
        exact = i % 3 != 2
        pid = own if exact else ids[3000 + i]
        rows.append((f"p{i}", text, "es" if i % 2 else "en", pid, 5 if exact else 1))
    return pd.DataFrame(rows, columns=["query_id", "query", "language", "product_id", "level"])
