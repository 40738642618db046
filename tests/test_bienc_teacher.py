"""The bi-encoder teacher (feature prior + fine-tuned e5 cosine): saving and loading the fine-tuned layers, training
through the CLI, scoring, and the feature prior's extra column; on a tiny randomly initialised BERT (e5-small's
architecture, e5's tokenizer) and the demo catalog."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from core.errors import InvalidInputError
from core.metrics import LISTWISE_MIN
from core.models.teacher import FeaturePrior, load_teacher
from core.models.teacher.bienc_model import COSINE, BiEncoderTeacher
from core.models.teacher.biencoder import WEIGHTS_FILE, BiEncoder, BiEncoderConfig
from core.models.teacher.config import teacher_fingerprint
from model_fixtures import labels_for, pointwise_labels

QUERIES = ["kettle steel", "sofa grey", "usb cable", "desk lamp"]
TEXTS = ["Steel kettle 1.7 l", "Grey sofa three seats", "USB-C cable 2 m", "LED desk lamp"]


def test_a_saved_bi_encoder_comes_back_with_its_cosines_and_stores_only_its_trained_layers(tiny_encoder, tmp_path):
    cfg = BiEncoderConfig(epochs=2, batch_size=2, lr=1e-2, freeze_layers=1, base=tiny_encoder)
    enc = BiEncoder(cfg)
    enc.fit(QUERIES, TEXTS, [5, 4, 1, 2])
    state = enc.save(tmp_path)
    stored = load_file(str(tmp_path / WEIGHTS_FILE))
    assert stored and all(k.startswith("encoder.layer.1.") and v.dtype == torch.float16 for k, v in stored.items())
    again = BiEncoder.load(tmp_path, json.loads(json.dumps(state)))
    np.testing.assert_allclose(again.cosines(QUERIES, TEXTS[::-1]), enc.cosines(QUERIES, TEXTS[::-1]), atol=2e-3)
    assert again.center == pytest.approx(enc.center) and torch.allclose(again.thresholds, enc.thresholds)
    # the untrained base differs, so the saved layers are what made the cosines
    assert not np.allclose(BiEncoder(cfg).cosines(QUERIES, TEXTS), enc.cosines(QUERIES, TEXTS), atol=2e-3)


def test_loading_refuses_layers_of_another_base(tiny_encoder, tmp_path):
    state = BiEncoder(BiEncoderConfig(base=tiny_encoder, freeze_layers=0)).save(tmp_path)
    stored = load_file(str(tmp_path / WEIGHTS_FILE))
    from safetensors.torch import save_file
    save_file({k.replace("layer.1.", "layer.7."): v for k, v in stored.items()}, str(tmp_path / WEIGHTS_FILE))
    with pytest.raises(InvalidInputError, match="does not fit base"):
        BiEncoder.load(tmp_path, state)


def test_the_feature_prior_s_extra_column_is_required_and_kept(demo_catalog):
    labels = labels_for(demo_catalog, n_queries=4)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    prior = FeaturePrior(demo_catalog, extra=[COSINE])
    cos = np.linspace(-1, 1, len(labels))[:, None]
    with pytest.raises(InvalidInputError, match="extra columns"):
        prior.fit(labels["query"].tolist(), rows, labels["level"].tolist())
    prior.fit(labels["query"].tolist(), rows, labels["level"].tolist(), extra=cos)
    again = FeaturePrior(demo_catalog, json.loads(json.dumps(prior.state())))
    assert again.extra == [COSINE] and again.head.weight.shape[1] == len(prior.names) + 1
    with torch.no_grad():
        torch.testing.assert_close(again.logits(labels["query"].tolist(), rows, cos),
                                   prior.logits(labels["query"].tolist(), rows, cos))


@pytest.fixture
def trained(demo_catalog, tiny_encoder, tmp_path):
    """`relevance train teacher --biencoder` on 4 listwise and 30 pointwise queries, over an old cross-encoder's
    files."""
    from core.cli import main

    labels = pd.concat([labels_for(demo_catalog, n_queries=4), pointwise_labels(demo_catalog, n=30)], ignore_index=True)
    labels.to_parquet(tmp_path / "labels.parquet")
    out = tmp_path / "teacher"
    out.mkdir()
    (out / "adapter_model.safetensors").write_bytes(b"old")
    rc = main(["train", "teacher", "--biencoder", "--backbone", tiny_encoder, "--epochs", "1", "--batch-size", "8",
               "--lr", "1e-3", "--freeze-layers", "0", "--dev-fraction", "0.3", "--labels", str(tmp_path / "labels.parquet"),
               "--out", str(out)])
    assert rc == 0
    return out, labels


def test_training_writes_a_bi_encoder_teacher_trained_on_the_pointwise_queries(trained):
    out, labels = trained
    meta = json.loads((out / "teacher.json").read_text())
    assert meta["arch"] == "biencoder" and (out / WEIGHTS_FILE).exists()
    assert not (out / "adapter_model.safetensors").exists(), "the old cross-encoder's adapter is gone"
    sizes = labels.groupby("query_id")["product_id"].size()
    train, dev = set(meta["train_query_ids"]), set(meta["dev_query_ids"])
    assert train and not train & dev and all(sizes[q] < LISTWISE_MIN for q in train)
    assert meta["train_pairs"] == int(labels["query_id"].isin(train).sum())
    assert meta["prior"]["extra"] == [COSINE] and meta["config"]["base"] and meta["config"]["epochs"] == 1
    card = (out / "model_card.md").read_text()
    assert card.startswith("# Teacher: feature prior + fine-tuned e5 bi-encoder")
    assert "Pointwise dev queries" in card and "| teacher | all |" in card
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [0, 1]


def test_the_bi_encoder_teacher_scores_as_its_parts_say(trained, demo_catalog):
    out, labels = trained
    teacher = load_teacher(out, demo_catalog)
    assert isinstance(teacher, BiEncoderTeacher)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    queries = labels["query"].tolist()
    probs = teacher.predict_pairs(queries, rows)
    assert probs.shape == (len(labels), 5) and np.allclose(probs.sum(1), 1, atol=1e-5)
    # by hand: the saved bi-encoder's cosine as the prior's extra column
    meta = json.loads((out / "teacher.json").read_text())
    enc = BiEncoder.load(out, meta["biencoder"])
    prior = FeaturePrior(demo_catalog, meta["prior"])
    cos = enc.cosines(queries, [prior.builder.product_text(r) for r in rows])
    with torch.no_grad():
        expected = torch.softmax(prior.logits(queries, rows, cos[:, None]), -1).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    one = teacher.predict_proba(queries[0], [rows[0]["product_id"], rows[1]["product_id"]])
    np.testing.assert_allclose(one[0], probs[0], atol=1e-5)


def test_scoring_embeds_each_text_once_per_process(trained, demo_catalog):
    out, labels = trained
    teacher = load_teacher(out, demo_catalog)
    encoded = []
    encode = teacher.encoder.encode
    teacher.encoder.encode = lambda texts, prefix, bs=64: encoded.extend(texts) or encode(texts, prefix, bs)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    seen = []
    teacher.predict_pairs(labels["query"].tolist(), rows, progress=seen.append)
    first = len(encoded)
    assert first == labels["query"].nunique() + len({teacher.prior.builder.product_text(r) for r in rows})
    teacher.predict_pairs(labels["query"].tolist()[::-1], rows[::-1])
    assert len(encoded) == first and sum(seen) == len(labels)


def test_the_fingerprint_covers_the_bi_encoder_s_layers(trained):
    out, _ = trained
    before = teacher_fingerprint(out)
    (out / WEIGHTS_FILE).write_bytes((out / WEIGHTS_FILE).read_bytes() + b" ")
    assert teacher_fingerprint(out) != before


def test_load_teacher_refuses_a_missing_folder(tmp_path, demo_catalog):
    with pytest.raises(FileNotFoundError, match="teacher.json missing"):
        load_teacher(tmp_path / "nothing", demo_catalog)


def test_the_failure_explorer_shows_what_the_bi_encoder_read(trained, demo_catalog, tiny_encoder, monkeypatch):
    """ui.cache.pin_text_builder (no torch) cuts the product text where the bi-encoder's tokenizer cuts it."""
    import ui.cache
    from transformers import AutoTokenizer

    out, labels = trained
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(out.parent))
    ui.cache.pin_text_builder.clear()
    build, how = ui.cache.pin_text_builder()
    ui.cache.pin_text_builder.clear()
    assert how.startswith("as the trained bi-encoder teacher reads it") and "64-token input" in how, how
    tok = AutoTokenizer.from_pretrained(tiny_encoder)
    long = {"title": "stainless steel kettle " * 30, "brand": "Acme", "color": float("nan")}
    for product in (long, demo_catalog.rows([labels["product_id"][0]]).iloc[0].to_dict()):
        text = "passage: " + FeaturePrior(demo_catalog).builder.product_text(product)
        ids = tok(text, truncation=True, max_length=64)["input_ids"]
        read = tok.decode(ids, skip_special_tokens=True).strip()
        assert build(product) in (read, read + " …"), (build(product), read)
    assert build(long).endswith(" …") and "Acme" not in build(long)


def _spy_training(monkeypatch):
    """(the bi-encoders built, in order, each with ``fit_on``: the query texts it fine-tuned on; the feature
    priors' fits by extra columns: (queries, products, extra values); a ``make_encoder`` building them) for
    ``bienc_train.train_biencoder_teacher``."""
    from core.models.teacher import bienc_train

    encoders, fitted = [], {}

    class Spy(BiEncoder):
        def fit(self, queries, products, levels, **kw):
            self.fit_on = set(queries)
            return super().fit(queries, products, levels, **kw)

    class SpyPrior(FeaturePrior):
        def fit(self, queries, products, levels, extra=None):
            fitted[tuple(self.extra)] = (list(queries), list(products), extra)
            return super().fit(queries, products, levels, extra)

    def make(cfg):
        encoders.append(Spy(cfg))
        return encoders[-1]

    monkeypatch.setattr(bienc_train, "FeaturePrior", SpyPrior)
    return encoders, fitted, make


def test_the_prior_learns_the_cosine_from_encoders_that_never_saw_the_pair_s_query(demo_catalog, tiny_encoder,
                                                                                   tmp_path, monkeypatch):
    """Cross-fitting in the real training: 3 inner bi-encoders score the parts they did not train on, and the
    regression is fitted on those cosines, not on the kept bi-encoder's (which trained on every pair)."""
    from core.models.teacher import bienc_train

    encoders, fitted, make = _spy_training(monkeypatch)
    labels = pointwise_labels(demo_catalog, n=30)
    bienc_train.train_biencoder_teacher(labels, demo_catalog, tmp_path, BiEncoderConfig(epochs=1, batch_size=8, lr=1e-3,
                                        freeze_layers=0, base=tiny_encoder), dev_fraction=0.3, make_encoder=make)
    inner, kept = encoders[:3], encoders[3]
    queries, products, extra = fitted[(COSINE,)]
    texts = [FeaturePrior(demo_catalog).builder.product_text(p) for p in products]
    assert len(encoders) == 4 and kept.fit_on == set(queries)
    for i, (q, t) in enumerate(zip(queries, texts)):
        [scorer] = [e for e in inner if q not in e.fit_on]  # the one inner model that left this query out
        assert extra[i, 0] == pytest.approx(float(scorer.cosines([q], [t])[0]), abs=1e-5)
    assert not np.allclose(extra[:, 0], kept.cosines(queries, texts), atol=1e-3)


def test_all_pairs_feeds_the_listwise_queries_to_every_bi_encoder_but_not_to_the_prior(demo_catalog, tiny_encoder,
                                                                                      tmp_path, monkeypatch):
    """``--all-pairs`` (``encoder_listwise``): the listwise training queries' pairs join the 3 cross-fitted
    fine-tunes and the kept one; the regression still fits on the pointwise pairs only, and no dev query is trained
    on."""
    from core.models.teacher import bienc_train

    encoders, fitted, make = _spy_training(monkeypatch)
    listwise = labels_for(demo_catalog, n_queries=6)
    labels = pd.concat([listwise, pointwise_labels(demo_catalog, n=30)], ignore_index=True)
    result = bienc_train.train_biencoder_teacher(
        labels, demo_catalog, tmp_path, BiEncoderConfig(epochs=1, batch_size=8, lr=1e-3, freeze_layers=0,
                                                        base=tiny_encoder),
        dev_fraction=0.3, make_encoder=make, encoder_listwise=True)
    meta = json.loads((tmp_path / "teacher.json").read_text())
    lw_train = set(listwise.loc[~listwise["query_id"].isin(meta["dev_query_ids"]), "query"])
    train_texts = set(labels.loc[~labels["query_id"].isin(meta["dev_query_ids"]), "query"])
    dev = set(result.dev["query"]) - train_texts  # (the fixture's pointwise query texts can repeat across ids)
    assert lw_train and len(encoders) == 4
    assert meta["training"]["encoder_listwise_pairs"] == int(listwise["query"].isin(lw_train).sum())
    assert all(lw_train <= e.fit_on and not e.fit_on & dev for e in encoders)
    prior_queries = set(fitted[(COSINE,)][0])
    assert not prior_queries & lw_train and prior_queries <= train_texts
