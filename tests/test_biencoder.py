"""The fine-tuned e5 bi-encoder and its cross-fitted cross-validation against the feature prior, on a tiny randomly
initialised BERT (e5-small's architecture) with e5's tokenizer and the demo catalog."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from core.metrics import exact_vs_irrelevant_auc
from core.models.teacher.biencoder import BiEncoder, BiEncoderConfig
from core.models.teacher.bienc_train import crossfit_cosines
from core.workflows.biencoder_cv import cross_validate_biencoder
from core.workflows.teacher_cv import PROB_COLS
from model_fixtures import labels_for, pointwise_labels

WORDS = ["kettle", "sofa", "cable", "lamp", "drill", "towel", "mug", "tent", "shoe", "pillow", "radio", "brush"]


def _tiny(tiny_encoder, tokenizer, cfg: BiEncoderConfig, cls=BiEncoder) -> BiEncoder:
    from transformers import BertModel
    torch.manual_seed(0)
    return cls(cfg, BertModel.from_pretrained(tiny_encoder, add_pooling_layer=False), tokenizer)


def _pairs(n: int = 24) -> pd.DataFrame:
    """Query "<word> <word>": level 5 with a product named after the word, level 1 with another word's product."""
    rows = []
    for i in range(n):
        w, other = WORDS[i % len(WORDS)], WORDS[(i + 5) % len(WORDS)]
        exact = i % 2 == 0
        rows.append((f"q{i}", f"{w} {w}", "en", f"P{i}", f"{w if exact else other} premium", 5 if exact else 1))
    return pd.DataFrame(rows, columns=["query_id", "query", "language", "product_id", "text", "level"])


def test_the_ordinal_loss_moves_the_cosine_towards_the_levels(tiny_encoder, tokenizer):
    pairs = _pairs()
    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(epochs=8, batch_size=8, lr=2e-3, warmup_ratio=0.0, freeze_layers=0))
    args = pairs["query"].tolist(), pairs["text"].tolist()
    before = exact_vs_irrelevant_auc(pairs["level"].to_numpy(), enc.cosines(*args))
    history = enc.fit(*args, pairs["level"].tolist())
    after = exact_vs_irrelevant_auc(pairs["level"].to_numpy(), enc.cosines(*args))
    assert [h["epoch"] for h in history] == list(range(1, 9)) and history[-1]["loss"] < history[0]["loss"]
    assert after >= 0.8 and after - before > 0.3, (before, after)


def test_embeddings_and_frozen_layers_keep_their_weights(tiny_encoder, tokenizer):
    pairs = _pairs(8)
    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(epochs=1, batch_size=4, lr=1e-2, freeze_layers=1))
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    seen = []
    enc.fit(pairs["query"].tolist(), pairs["text"].tolist(), pairs["level"].tolist(), on_epoch=seen.append)
    after = enc.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert seen == [1] and changed and all(k.startswith("encoder.layer.1.") for k in changed), sorted(changed)


@pytest.mark.parametrize("args, match", [
    ((["a", "b"], ["x"]), "one product per query"),
], ids=["lengths differ"])
def test_cosines_refuse_mismatched_inputs(tiny_encoder, tokenizer, args, match):
    with pytest.raises(ValueError, match=match):
        _tiny(tiny_encoder, tokenizer, BiEncoderConfig()).cosines(*args)


def test_fit_refuses_to_freeze_every_layer(tiny_encoder, tokenizer):
    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(freeze_layers=2))  # the tiny BERT has 2 layers
    with pytest.raises(ValueError, match="leaves none of the base's 2 layers"):
        enc.fit(["a"], ["x"], [5])


def test_fit_refuses_empty_or_ragged_pairs(tiny_encoder, tokenizer):
    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(freeze_layers=0))
    with pytest.raises(ValueError, match="as many queries, products and levels"):
        enc.fit(["a"], ["x", "y"], [5])
    with pytest.raises(ValueError, match="at least one"):
        enc.fit([], [], [])


def test_training_pairs_are_scored_by_encoders_that_never_saw_their_query(tiny_encoder, tokenizer):
    """Cross-fitting: the cosine of each training pair comes from a bi-encoder fitted on the other parts."""
    pairs = _pairs(12)
    texts = dict(zip(pairs["product_id"], pairs["text"]))
    fitted_on, scored = [], []

    class Spy(BiEncoder):
        def fit(self, queries, products, levels, **kw):
            fitted_on.append(set(queries))
            return super().fit(queries, products, levels, **kw)

        def cosines(self, queries, products):
            scored.append(set(queries))
            return super().cosines(queries, products)

    cfg = BiEncoderConfig(epochs=2, batch_size=4, lr=1e-3, freeze_layers=0)
    out = crossfit_cosines(pairs, texts, cfg, 3, lambda c: _tiny(tiny_encoder, tokenizer, c, Spy))
    assert sorted(out) == [1, 2] and all(v.shape == (12,) and np.all(v != 0) for v in out.values())
    assert len(fitted_on) == 3
    # per encoder two scorings of its held-out part, after each of the 2 epochs (none before: nothing reads it)
    for i, train_queries in enumerate(fitted_on):
        assert scored[2 * i] == scored[2 * i + 1] and not scored[2 * i] & train_queries
    assert set().union(*scored) == set(pairs["query"])


def test_the_cross_validation_tests_every_pointwise_pair_once_per_epoch(tiny_encoder, tokenizer, demo_catalog,
                                                                       tmp_path):
    from core.workflows.cards.cv_report import write_report

    listwise, pointwise = labels_for(demo_catalog, n_queries=4), pointwise_labels(demo_catalog, n=24)
    cfg = BiEncoderConfig(epochs=1, batch_size=8, lr=1e-3, freeze_layers=0)
    doc = cross_validate_biencoder(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, inner_folds=2,
                                   name="biencoder-pw", make_encoder=lambda c: _tiny(tiny_encoder, tokenizer, c))
    preds = pd.read_parquet(tmp_path / "biencoder-pw.parquet")
    assert doc["kind"] == "biencoder" and set(preds["epoch"]) == {0, 1}
    for _, part in preds.groupby("epoch"):
        assert sorted(part["query_id"]) == sorted(pointwise["query_id"])
    np.testing.assert_allclose(preds[PROB_COLS].sum(1), 1.0, rtol=1e-5)
    assert [[h["epoch"] for h in f["history"]] for f in doc["folds"]] == [[0, 1], [0, 1]]
    aucs = [h["cosine_auc"] for f in doc["folds"] for h in f["history"]]
    assert all(0 <= a <= 1 for a in aucs if a == a)  # NaN where a test fold lacks exact or irrelevant pairs
    assert json.loads((tmp_path / "biencoder-pw.json").read_text())["biencoder"]["epochs"] == 1
    report = write_report(tmp_path)
    assert "### Run `biencoder-pw` (feature prior + fine-tuned e5 bi-encoder)" in report
    small = cross_validate_biencoder(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, inner_folds=2,
                                     name="biencoder-lc6", max_train_queries=6,
                                     make_encoder=lambda c: _tiny(tiny_encoder, tokenizer, c))
    assert small["max_train_queries"] == 6 and [f["train_pointwise_queries"] for f in small["folds"]] == [6, 6]


def test_lora_trains_adapters_only_above_the_frozen_layers(tiny_encoder, tokenizer):
    pairs = _pairs(8)
    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(epochs=1, batch_size=4, lr=1e-2, lora_r=4, freeze_layers=1))
    before = enc.cosines(pairs["query"].tolist(), pairs["text"].tolist())
    enc.fit(pairs["query"].tolist(), pairs["text"].tolist(), pairs["level"].tolist())
    trainable = [n for n, p in enc.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and ".layer.1." in n for n in trainable), trainable
    assert not np.allclose(before, enc.cosines(pairs["query"].tolist(), pairs["text"].tolist()))


def _fake_biencoder_run(folder, name, quality, n_queries, cfg, langs, size, listwise=False):
    """A ``cross_validate_biencoder`` result over ``test_teacher_cv``'s synthetic predictions (``size``: its
    ``--max-train-queries``; ``listwise``: its ``--all-pairs``)."""
    from test_teacher_cv import _fake_run

    doc = _fake_run(folder, name, quality, n_queries, seed=int(quality * 10))
    doc |= {"kind": "biencoder", "train_languages": langs, "inner_folds": 3, "biencoder": cfg, "max_train_queries": size,
            "encoder_listwise": listwise}
    for fold in doc["folds"]:
        fold["history"] = [{"epoch": 0, "cosine_auc": 0.7}, {"epoch": 1, "cosine_auc": 0.8}]
    (folder / f"{name}.json").write_text(json.dumps(doc))


def test_the_unseen_language_table_has_the_bi_encoder_runs_and_their_kept_share(tmp_path):
    from test_teacher_cv import _fake_run
    from core.workflows.cards.cv_report import kept_share, write_report
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    _fake_run(tmp_path, "prior-all", 0.0, 1500, seed=3)
    recipe = {"lr": 2e-5, "epochs": 1, "batch_size": 32, "freeze_layers": 0, "contrastive": 0.0}
    # bienc-top4: another recipe, and a learning-curve point of it: neither is bienc-en's reference
    for name, quality, langs, cfg, size in (("bienc-pw", 0.4, None, recipe, None),
                                            ("bienc-en", 0.2, ["en"], recipe, None),
                                            ("bienc-top4", 0.3, None, {**recipe, "freeze_layers": 8}, None),
                                            ("bienc-top4-lc250", 0.1, None, {**recipe, "freeze_layers": 8}, 250)):
        _fake_biencoder_run(tmp_path, name, quality, 1000, cfg, langs, size)
    # bienc-pw's recipe with the esci_us pairs in the bi-encoder's training: another recipe, not bienc-en's reference
    _fake_biencoder_run(tmp_path, "bienc-pw-ap", 0.5, 1000, recipe, None, None, listwise=True)
    runs = load_runs(tmp_path)
    share = kept_share(runs, fold_scores(tmp_path, runs), "biencoder")
    auc = {(n, r["language"]): r["auc"] for n in ("bienc-pw", "bienc-en") for r in runs[n]["rows"]
           if r["model"] == "epoch 1"}
    assert share["es"] == pytest.approx(auc["bienc-en", "es"] / auc["bienc-pw", "es"])
    text = write_report(tmp_path)
    assert "| prior + fine-tuned e5 cosine (`bienc-en`, last epoch) | en only (pointwise) | 1 of 1 |" in text
    assert "| prior + fine-tuned e5 cosine (`bienc-pw`, last epoch) | en + es + ja (pointwise) | 1 of 1 |" in text
    assert (f"The English-only prior + fine-tuned e5 cosine (`bienc-en`) keeps {share['es']:.1%} on es, "
            f"{share['ja']:.1%} on ja of `bienc-pw` (its recipe on every language)'s AUC.") in text
    assert "0.700 (untrained), 0.800 (epoch 1)" in text
    assert "(`bienc-top4`, last epoch) | en + es + ja (pointwise)" in text and "`bienc-top4-lc250`, last" not in text
    assert "(`bienc-pw-ap`, last epoch) | en + es + ja (pointwise) + esci_us (bi-encoder only) |" in text
    assert text.count("The English-only prior + fine-tuned e5 cosine") == 1


def test_bi_encoder_runs_of_one_recipe_at_several_sizes_make_their_own_learning_curve(tmp_path):
    from core.workflows.cards.cv_curve import curve_points
    from core.workflows.cards.cv_report import write_report
    from core.workflows.cards.cv_runs import fold_scores, load_runs

    recipe = {"lr": 3e-5, "epochs": 2, "batch_size": 32, "freeze_layers": 8, "contrastive": 0.0}
    for name, quality, size, cfg, langs in (("bienc-top4", 0.4, None, recipe, None),
                                            ("bienc-top4-lc250", 0.1, 250, recipe, None),
                                            ("bienc-pw", 0.3, None, {**recipe, "freeze_layers": 0}, None),
                                            ("bienc-en", 0.2, None, recipe, ["en"])):
        _fake_biencoder_run(tmp_path, name, quality, size or 1500, cfg, langs, size)
    _fake_biencoder_run(tmp_path, "bienc-top4-ap", 0.5, 1400, recipe, None, None, listwise=True)  # --all-pairs
    runs = load_runs(tmp_path)
    pts = {(p["model"], p["language"], p["queries"]): p
           for p in curve_points(tmp_path, runs, fold_scores(tmp_path, runs))}
    # another recipe (every layer), the English-only run and the one with esci_us pairs are not points of this curve
    assert set(pts) == {("biencoder", lang, q) for lang in ("all", "en", "es", "ja") for q in (250, 1500)}
    assert pts["biencoder", "all", 1500]["auc"] > pts["biencoder", "all", 250]["auc"]
    assert all(pts["biencoder", "all", q]["auc"] > pts["biencoder", "all", q]["prior_auc"] for q in (250, 1500))
    text = write_report(tmp_path)
    assert "![biencoder learning curve](learning_curve_biencoder.svg)" in text
    assert "| biencoder | all | 250 | 1 of 1 |" in text
    svg = (tmp_path / "learning_curve_biencoder.svg").read_text()
    assert "teacher all" in svg and "its prior ja" in svg


def test_the_contrastive_loss_never_counts_a_query_s_own_product_twice_as_a_negative(tiny_encoder, tokenizer):
    """Two exact pairs of one batch share a product: for each, that product is its positive, never a negative."""
    import torch.nn.functional as F
    from dataclasses import replace

    enc = _tiny(tiny_encoder, tokenizer, BiEncoderConfig(contrastive=1.0, freeze_layers=0))
    queries, products = ["kettle", "tea kettle", "sofa"], ["kettle steel", "kettle steel", "lamp"]
    levels = torch.tensor([5, 5, 1])
    with torch.no_grad():
        both = enc.loss(queries, products, levels)
        enc.cfg = replace(enc.cfg, contrastive=0.0)
        ordinal = enc.loss(queries, products, levels)
        Q = enc._embed(["query: kettle", "query: tea kettle"])
        P = enc._embed(["passage: kettle steel", "passage: lamp"])  # the twin column dropped, "lamp" kept
        expected = ordinal + F.cross_entropy(Q @ P.T / enc.cfg.temperature, torch.tensor([0, 0]))
    assert torch.allclose(both, expected, atol=1e-4), (float(both), float(expected))


def test_cross_validation_with_all_pairs_fine_tunes_on_the_listwise_training_queries_too(tiny_encoder, tokenizer,
                                                                                        demo_catalog, tmp_path):
    """``--cv --all-pairs``: each fold's bi-encoders (cross-fitted and outer) fine-tune on its listwise training
    queries as well; the listwise dev queries and the fold's test queries are never trained on."""
    listwise, pointwise = labels_for(demo_catalog, n_queries=6), pointwise_labels(demo_catalog, n=24)
    fitted_on = []

    class Spy(BiEncoder):
        def fit(self, queries, products, levels, **kw):
            fitted_on.append(set(queries))
            return super().fit(queries, products, levels, **kw)

    cfg = BiEncoderConfig(epochs=1, batch_size=8, lr=1e-3, freeze_layers=0)
    doc = cross_validate_biencoder(listwise, pointwise, demo_catalog, tmp_path, cfg, n_folds=2, inner_folds=2,
                                   name="bienc-ap", encoder_listwise=True,
                                   make_encoder=lambda c: _tiny(tiny_encoder, tokenizer, c, Spy))
    preds = pd.read_parquet(tmp_path / "bienc-ap.parquet")
    assert doc["encoder_listwise"] and len(fitted_on) == 2 * 3  # per fold: 2 cross-fitted + 1 outer
    listwise_queries = set(listwise["query"])
    for f, record in enumerate(doc["folds"]):
        test = set(preds.loc[preds["fold"] == f, "query"])
        assert record["train_listwise_queries"] >= 1
        for seen in fitted_on[3 * f: 3 * f + 3]:
            assert len(seen & listwise_queries) == record["train_listwise_queries"] and not seen & test
