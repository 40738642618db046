"""The teacher on tiny randomly initialised models of the real architectures (BERT as e5-small is,
Llama as the decoder teachers are): input handling, LoRA training with early stopping and resume,
the artifact, batched scoring, the process-wide cache, resumable and Ray scoring."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from core.models.teacher import PairEncoder, Teacher, TeacherConfig, split_queries, train_teacher
from core.models.teacher.backbones import get_backbone, load_base, prepare_tokenizer
from model_fixtures import labels_for as _labels


@pytest.mark.parametrize("which,family,reads", [("tiny_encoder", "encoder", "first token"),
                                                ("tiny_decoder", "decoder", "last non-pad token")],
                         ids=["bert", "llama"])
def test_local_folder_backbones_are_recognised(request, which, family, reads):
    b = get_backbone(request.getfixturevalue(which))
    assert (b.family, b.reads) == (family, reads)


def test_decoder_scores_the_last_real_token_whatever_the_padding(tiny_decoder):
    backbone = get_backbone(tiny_decoder)
    model, tok = load_base(backbone)
    model.eval()
    enc = PairEncoder(tok, backbone, max_length=96, query_max_tokens=16)
    short = ({"product_id": "a", "title": "lamp"}, "desk lamp")
    long = ({"product_id": "b", "title": "a very long title " * 8, "brand": "Acme"}, "ceiling fan without light")
    with torch.inference_mode():
        alone = model(**enc.encode([short[1]], [short[0]])).logits
        batch = enc.encode([short[1], long[1]], [short[0], long[0]])
        padded = model(**batch).logits
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum(), "the short pair was padded"
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-4)
    assert tok.padding_side == "right"


def test_decoder_without_pad_token_gets_eos(tiny_decoder):
    backbone = get_backbone(tiny_decoder)
    model, tok = load_base(backbone)
    tok.pad_token = None
    prepare_tokenizer(model, tok, backbone)
    assert tok.pad_token == tok.eos_token and model.config.pad_token_id == tok.eos_token_id


def test_encoder_input_is_query_sep_pin_text(tiny_encoder, tokenizer):
    enc = PairEncoder(tokenizer, get_backbone(tiny_encoder), max_length=64, query_max_tokens=8)
    batch = enc.encode(["red shoes"], [{"product_id": "x", "title": "Red running shoes", "brand": "Acme"}])
    text = tokenizer.decode(batch["input_ids"][0])
    assert text.startswith("<s> red shoes</s></s> title: Red running shoes | brand: Acme")
    long_query = "word " * 100
    assert len(enc.encode([long_query], [{"title": "t"}])["input_ids"][0]) <= 64


def test_query_split_is_stable_disjoint_and_seeded():
    qs = [f"q{i}" for i in range(1000)]
    dev = split_queries(qs, 0.2, seed=0)
    assert dev == split_queries(list(reversed(qs)), 0.2, seed=0)
    assert 150 < len(dev) < 250
    assert dev != split_queries(qs, 0.2, seed=1)


def test_training_writes_a_small_artifact_and_resumes(trained, demo_catalog):
    result, labels, cfg = trained
    out = result.out
    files = {p.name for p in out.iterdir()}
    assert {"adapter_model.safetensors", "adapter_config.json", "teacher.json", "checkpoint"} <= files
    assert (out / "adapter_model.safetensors").stat().st_size < 25 * 2**20
    meta = json.loads((out / "teacher.json").read_text())
    dev = set(meta["dev_query_ids"])
    assert dev and dev < set(labels["query_id"]) and meta["train_queries"] + len(dev) == labels["query_id"].nunique()
    assert set(meta["train_query_ids"]) == set(labels["query_id"]) - dev  # the dashboard's held-out split reads it
    from safetensors.torch import load_file
    assert all(t.dtype == torch.float16 for t in load_file(out / "adapter_model.safetensors").values())
    # resume: a second call with more epochs goes on from the saved state instead of starting over
    more = train_teacher(labels, demo_catalog, out, TeacherConfig(**{**cfg.__dict__, "epochs": 2, "patience": 5}),
                         progress=False)
    epochs = [h["epoch"] for h in more.metrics["history"]]
    assert epochs == [0, 1, 2], "epoch 0 (the warm-started prior alone), then the two trained epochs"
    assert more.metrics["history"][:2] == result.metrics["history"][:2]


def test_trained_teacher_scores_pairs_in_any_order(trained, demo_catalog):
    teacher = Teacher(trained[0].out, demo_catalog, batch_size=4)
    ids = list(demo_catalog.ids[:9])
    p = teacher.predict_proba("kindle paperwhite", ids)
    assert p.shape == (9, 5) and np.allclose(p.sum(1), 1, atol=1e-5)
    p_rev = teacher.predict_proba("kindle paperwhite", ids[::-1])
    np.testing.assert_allclose(p_rev[::-1], p, atol=1e-5)
    np.testing.assert_allclose(teacher.score("kindle paperwhite", ids), p @ np.arange(1, 6), rtol=1e-5)


def test_training_learns_the_task(tiny_encoder, demo_catalog, tmp_path):
    """On its training pairs the tiny teacher learns to tell the relevant products (level 5) from the
    irrelevant ones (level 1): their expected levels separate, which an untrained head cannot do."""
    labels = _labels(demo_catalog, n_queries=12)
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=15, batch_size=8, lr=3e-3, dev_fraction=0.01, max_length=48,
                        patience=20, label_smoothing=0.0, lora_r=8, prior=None, listwise=0.0)  # CE, no prior
    untrained_head, _ = load_base(get_backbone(tiny_encoder))
    out = train_teacher(labels, demo_catalog, tmp_path / "t", cfg, progress=False).out
    teacher = Teacher(out, demo_catalog)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    expected = teacher.predict_pairs(labels["query"].tolist(), rows) @ np.arange(1, 6)
    high, low = expected[labels["level"] == 5].mean(), expected[labels["level"] == 1].mean()
    assert high > low + 0.15, (high, low)
    with torch.inference_mode():
        enc = PairEncoder(teacher.tok, get_backbone(tiny_encoder), 48, 32)
        before = untrained_head(**enc.encode(labels["query"].tolist(), rows)).logits
    target = torch.tensor(labels["level"].to_numpy() - 1)
    after = torch.log(torch.tensor(teacher.predict_pairs(labels["query"].tolist(), rows)))
    assert torch.nn.functional.nll_loss(after, target) < 0.7 * torch.nn.functional.cross_entropy(before, target)


def test_cache_loads_the_teacher_once_across_threads(trained, demo_catalog, monkeypatch, tmp_path):
    import shutil
    art = tmp_path / "artifacts"
    shutil.copytree(trained[0].out, art / "teacher")
    monkeypatch.setenv("RELEVANCE_ARTIFACTS_DIR", str(art))
    from core.cache import get_scorer
    got = []
    threads = [threading.Thread(target=lambda: got.append(get_scorer("teacher"))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and all(g is got[0] for g in got)


def test_missing_teacher_artifact_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained teacher at .*relevance train teacher"):
        Teacher(tmp_path / "nothing")


def test_feature_prior_is_saved_with_the_adapter_and_scores_the_same_after_loading(trained, demo_catalog):
    result, labels, cfg = trained
    meta = json.loads((result.out / "teacher.json").read_text())
    assert meta["prior"]["kind"] == "features" and len(meta["prior"]["names"]) == len(meta["prior"]["mean"])
    a = Teacher(result.out, demo_catalog).predict_proba("kindle paperwhite", list(demo_catalog.ids[:5]))
    b = Teacher(result.out, demo_catalog).predict_proba("kindle paperwhite", list(demo_catalog.ids[:5]))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_feature_prior_warm_start_ranks_the_labelled_products(demo_catalog):
    """The prior's logistic-regression warm start alone separates the level-5 products from the level-1
    ones on its training pairs (their mean P(level 5) differs), before any cross-encoder training."""
    from core.models.teacher import FeaturePrior

    labels = _labels(demo_catalog, n_queries=12)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    prior = FeaturePrior(demo_catalog)
    untrained = torch.softmax(prior.logits(labels["query"].tolist(), rows), -1)[:, 4].detach().numpy()
    assert np.allclose(untrained, untrained[0]), "an unfitted prior says nothing"
    prior.fit(labels["query"].tolist(), rows, labels["level"].tolist())
    p5 = torch.softmax(prior.logits(labels["query"].tolist(), rows), -1)[:, 4].detach().numpy()
    assert p5[labels["level"].to_numpy() == 5].mean() > p5[labels["level"].to_numpy() == 1].mean() + 0.2


def test_unknown_prior_is_a_clear_error(demo_catalog):
    from core.models.teacher import make_prior

    with pytest.raises(ValueError, match="unknown prior 'bm42'"):
        make_prior("bm42", demo_catalog)
    assert make_prior("none", demo_catalog) is None and make_prior(None, demo_catalog) is None


def test_listwise_batches_hold_one_query_each_and_cover_every_pair_once(demo_catalog):
    from core.models.teacher import batches as _batches

    labels = _labels(demo_catalog, n_queries=7, per_query=11)
    cfg = TeacherConfig(batch_size=4, listwise=1.0)
    batches = _batches(labels, cfg, epoch=0)
    assert all(labels.loc[b, "query_id"].nunique() == 1 and len(b) <= 4 for b in batches)
    assert sorted(np.concatenate(batches).tolist()) == list(labels.index)
    assert [b.tolist() for b in batches] != [b.tolist() for b in _batches(labels, cfg, epoch=1)], "reshuffled per epoch"
    plain = _batches(labels, TeacherConfig(batch_size=4), epoch=0)
    assert sorted(np.concatenate(plain).tolist()) == list(labels.index) and max(len(b) for b in plain) == 4


def test_pairwise_rank_loss_by_hand():
    from core.models.teacher import pairwise_rank_loss

    sure = 30.0  # logits so peaked that the expected level is the level itself
    logits = torch.full((2, 5), 0.0)
    logits[0, 4] = logits[1, 0] = sure  # pair 0 at level 5, pair 1 at level 1: s = 5 and 1
    target = torch.tensor([4, 0])  # truly level 5 (E) and level 1 (I): the right order
    right = float(pairwise_rank_loss(logits, target))
    assert right == pytest.approx(np.log1p(np.exp(-2.0 * 4)), rel=1e-4)  # softplus(-2 (5 - 1))
    wrong = float(pairwise_rank_loss(logits, target.flip(0)))
    assert wrong == pytest.approx(np.log1p(np.exp(2.0 * 4)), rel=1e-4)
    assert float(pairwise_rank_loss(logits, torch.tensor([4, 4]))) == 0.0, "one level: nothing to rank"


def test_frozen_prior_keeps_its_warm_start(tiny_encoder, demo_catalog, tmp_path):
    from core.models.teacher import FeaturePrior

    labels = _labels(demo_catalog)
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, lr=3e-3, dev_fraction=0.3, max_length=48,
                        prior_lr=0.0, listwise=1.0, checkpoint_every=0)
    out = train_teacher(labels, demo_catalog, tmp_path / "t", cfg, progress=False).out
    saved = torch.load(out / "checkpoint" / "state.pt", weights_only=True)["prior"]  # plain weights, no pickle code
    dev_q = split_queries(labels["query_id"], cfg.dev_fraction, cfg.seed)
    train = labels[~labels["query_id"].isin(dev_q)]
    fresh = FeaturePrior(demo_catalog)
    fresh.fit(train["query"].tolist(), demo_catalog.rows(train["product_id"].tolist()).to_dict("records"),
              train["level"].tolist())
    np.testing.assert_allclose(saved["weight"], fresh.state()["weight"], atol=1e-3)


class _Planted:
    """A pickle that runs code when it is loaded: it would write the file named by ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "pwned"))


def test_a_planted_checkpoint_is_refused_and_runs_nothing(tiny_encoder, demo_catalog, tmp_path):
    from core.errors import InvalidInputError

    marker = tmp_path / "ran.txt"
    (tmp_path / "t" / "checkpoint").mkdir(parents=True)
    torch.save({"adapter": _Planted(marker)}, tmp_path / "t" / "checkpoint" / "state.pt")
    cfg = TeacherConfig(backbone=tiny_encoder, epochs=1, batch_size=8, dev_fraction=0.3, max_length=48,
                        checkpoint_every=0)
    with pytest.raises(InvalidInputError, match="not a checkpoint of plain weights"):
        train_teacher(_labels(demo_catalog), demo_catalog, tmp_path / "t", cfg, progress=False, resume=True)
    assert not marker.exists()
