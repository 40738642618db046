"""The student: the distillation loss on hand-computed values, the numpy fast path, the artifact and its
schema checks, the registry, and inference without torch or transformers."""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core.models.embeddings import EmbeddingStore
from core.models.features import FeatureBuilder
from core.models.student import Student, StudentConfig, StudentWeights, fit, save, soft_label_loss, softmax
from student_helpers import HashEncoder, small_catalog


@pytest.mark.parametrize("teacher,logits,T,expected", [
    ([1, 0, 0, 0, 0], [0, 0, 0, 0, 0], 1.0, math.log(5)),
    ([1, 0, 0, 0, 0], [0, 0, 0, 0, 0], 2.0, 4 * math.log(5)),
    ([0.5, 0.5, 0, 0, 0], [0, 0, 0, 0, 0], 1.0, math.log(2.5)),
    ([0.1, 0.2, 0.3, 0.2, 0.2], [0, 0, 0, 0, 0], 1.0,
     sum(p * math.log(p / 0.2) for p in (0.1, 0.2, 0.3, 0.2, 0.2))),
    # T = 2 softens the teacher to p^(1/2) / Σ p^(1/2); the student's log(p) logits become p^(1/2) too: KL = 0
    ([0.1, 0.2, 0.3, 0.2, 0.2], [math.log(x) for x in (0.1, 0.2, 0.3, 0.2, 0.2)], 2.0, 0.0),
    # a sure teacher at T = 2 is still sure; softmax(z / 2) with z = (2 log 4, 0, 0, 0, 0) is (4, 1, 1, 1, 1) / 8
    ([1, 0, 0, 0, 0], [2 * math.log(4), 0, 0, 0, 0], 2.0, 4 * math.log(8 / 4)),
], ids=["sure-uniform-T1", "sure-uniform-T2", "two-way-T1", "spread-T1", "match-T2", "sure-T2"])
def test_soft_label_loss_by_hand(teacher, logits, T, expected):
    got = soft_label_loss(torch.tensor([logits], dtype=torch.float32), torch.tensor([teacher], dtype=torch.float32), T)
    assert float(got) == pytest.approx(expected, abs=1e-5)


def test_soft_label_loss_means_over_rows_and_has_the_right_gradient():
    z = torch.zeros(2, 5, requires_grad=True)
    p = torch.tensor([[1, 0, 0, 0, 0], [0.2] * 5], dtype=torch.float32)
    loss = soft_label_loss(z, p, 1.0)
    assert loss.item() == pytest.approx(math.log(5) / 2, abs=1e-5)
    loss.backward()
    # d KL / d z = (softmax(z) - p) / n rows
    np.testing.assert_allclose(z.grad.numpy(), (np.full((2, 5), 0.2) - p.numpy()) / 2, atol=1e-6)
    assert soft_label_loss(z, p, 1.0, reduction="none").shape == (2,)


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    enc = HashEncoder()
    return FeatureBuilder(small_catalog(200), encoder=enc, store=EmbeddingStore(enc, tmp_path_factory.mktemp("emb")),
                          default_language="en")


@pytest.fixture(scope="module")
def trained(features):
    ids = list(features.catalog.ids)
    rng = np.random.default_rng(0)
    own = ids[:12]
    queries = [" ".join(str(features.catalog.products.at[p, "title"]).split()[:3]) for p in own]
    pairs = pd.DataFrame([(q, p) for q, o in zip(queries, own) for p in [o] + list(rng.choice(ids[12:], 8))],
                         columns=["query", "product_id"])
    X = features.pairs(pairs)
    levels = np.where(X[:, features.dense_names.index("title_overlap")] > 0.6, 5, 1)
    w = fit(X, None, levels, pairs["query"].to_numpy(),
            StudentConfig(epochs=60, hidden=(16, 8), val_fraction=0.0, lr=1e-2, batch_size=32, dropout=0.0,
                          patience=99))
    return w, pairs, X, levels


def test_fast_path_equals_the_plain_forward(features, trained):
    w, pairs, X, _ = trained
    student = Student.from_weights(w, features)
    ids = pairs["product_id"].tolist()[:9]
    fast = student.predict_proba(pairs["query"].iat[0], ids)
    slow = softmax(w.logits(features.transform(pairs["query"].iat[0], ids)))
    np.testing.assert_allclose(fast, slow, atol=1e-5)
    assert fast.shape == (9, 5) and np.allclose(fast.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(student.score(pairs["query"].iat[0], ids), fast @ np.arange(1, 6), rtol=1e-5)
    # bulk scoring (the teacher's interface): any order of pairs, queries embedded in one batch
    sub = pairs.sample(frac=1.0, random_state=1)
    bulk = student.predict_pairs(sub["query"].tolist(), sub["product_id"].tolist())
    for q, g in sub.reset_index(drop=True).groupby("query"):
        np.testing.assert_allclose(bulk[g.index], student.predict_proba(q, g["product_id"].tolist()), atol=1e-5)


def test_student_learns_human_labels(trained):
    w, _, X, levels = trained
    pred = softmax(w.logits(X)).argmax(1) + 1
    assert (pred == levels).mean() > 0.9


def test_artifact_round_trip_and_schema_checks(features, trained, tmp_path, caplog):
    w, pairs, _, _ = trained
    out = save(tmp_path / "s", w, features.schema, StudentConfig(hidden=(16, 8)), name="student")
    assert {p.name for p in out.iterdir()} == {"student.npz", "student.json"}
    loaded = Student(out, features.catalog, features)
    ids = pairs["product_id"].tolist()[:5]
    np.testing.assert_allclose(loaded.predict_proba("kindle", ids),
                               Student.from_weights(w, features).predict_proba("kindle", ids), atol=1e-6)
    meta = json.loads((out / "student.json").read_text())
    meta["schema"]["feature_version"] = 0
    meta["schema"]["encoder_version"] = "hash-0"
    (out / "student.json").write_text(json.dumps(meta))
    with caplog.at_level(logging.WARNING, logger="core.models.student"):
        Student(out, features.catalog, features)
    assert "feature version 0" in caplog.text and "encoder hash-0" in caplog.text
    meta["schema"]["n_features"] = 7
    (out / "student.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"expects 7 features, but the feature builder makes \d+; retrain"):
        Student(out, features.catalog, features)


def test_missing_artifact_is_a_clear_error(features, tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained student at .*relevance distill"):
        Student(tmp_path / "nothing", features.catalog, features)


def test_each_student_name_loads_its_own_folder(catalog_url, tmp_path, monkeypatch):
    """The registry builds student, student-human and student-mixed from artifacts/<name>: here only
    student-human is saved, so it loads (and is a LevelScorer) while the others name their missing folder."""
    from core.cache import get_scorer
    from core.models.base import LevelScorer

    schema = FeatureBuilder(small_catalog(5)).schema
    n, rng = schema["n_features"], np.random.default_rng(0)
    w = StudentWeights([(rng.standard_normal((n, 8)).astype(np.float32), np.zeros(8, np.float32)),
                        (rng.standard_normal((8, 5)).astype(np.float32), np.zeros(5, np.float32))],
                       np.zeros(n, np.float32), np.ones(n, np.float32))
    save(tmp_path / "student-human", w, schema, StudentConfig(hidden=(8,)), name="student-human")
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(tmp_path))
    monkeypatch.setenv("RELEVANCE_DB_URL", catalog_url)
    human = get_scorer("student-human")
    assert isinstance(human, LevelScorer) and human.path == tmp_path / "student-human"
    assert human.name == "student-human"
    for name in ("student", "student-mixed"):
        with pytest.raises(FileNotFoundError, match=f"no trained student at {tmp_path / name} "):
            get_scorer(name)


def test_weights_forward_is_plain_numpy():
    W0, b0 = np.eye(2, 3, dtype=np.float32), np.zeros(3, np.float32)
    W1, b1 = np.ones((3, 5), np.float32), np.arange(5, dtype=np.float32)
    w = StudentWeights([(W0, b0), (W1, b1)], np.zeros(2, np.float32), np.ones(2, np.float32))
    # relu(x @ W0) = (1, 0, 0) for x = (1, -2); then sum 1 + b1
    np.testing.assert_allclose(w.logits(np.array([[1.0, -2.0]])), [[1, 2, 3, 4, 5]])


def test_scoring_imports_neither_torch_nor_transformers(catalog_url, tmp_path):
    """Serve a student (USE features, random numpy weights) through the registry in a fresh process."""
    schema = FeatureBuilder(small_catalog(5)).schema  # the default (USE) feature schema
    rng = np.random.default_rng(0)
    n = schema["n_features"]
    w = StudentWeights([(rng.standard_normal((n, 8)).astype(np.float32), np.zeros(8, np.float32)),
                        (rng.standard_normal((8, 5)).astype(np.float32), np.zeros(5, np.float32))],
                       np.zeros(n, np.float32), np.ones(n, np.float32))
    art = tmp_path / "artifacts"
    save(art / "student", w, schema, StudentConfig(hidden=(8,)), name="student")
    serve = textwrap.dedent("""
        import sys
        from core.cache import get_catalog
        from core.serve import rank
        ids = list(get_catalog().ids[:30])
        s = rank("kindle paperwhite", ids)
        assert s.shape == (30,) and ((s >= 1) & (s <= 5)).all(), s
        bad = [m for m in ("torch", "transformers") if m in sys.modules]
        assert not bad, f"serving imported {bad}"
        print("ok")
    """)
    env = {"RELEVANCE_DB_URL": catalog_url, "RELEVANCE_ARTIFACTS_DIR": str(art),
           "RELEVANCE_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", serve], env=env, cwd=str(root), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
