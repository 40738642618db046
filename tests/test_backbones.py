"""The teacher on tiny randomly initialised models of every architecture it supports (core/models/teacher/backbones.py):
BERT (mbert), XLM-R, DeBERTa-v2 (mdeberta), T5, Llama and Gemma 3. Each is built here, saved with the
e5 tokenizer into a folder and used as a local-folder backbone: LoRA reaches the attention of every
layer and trains the head, a few steps lower the loss, the artifact reloads to the same predictions,
and a pair scores the same alone and padded inside a batch."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from core.models.teacher import PairEncoder, Teacher, TeacherConfig, train_teacher
from core.models.teacher.backbones import BACKBONES, get_backbone, load_base
from model_fixtures import labels_for


def _bert(tok):
    from transformers import BertConfig, BertModel
    return BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=256, initializer_range=0.5))


def _xlm_r(tok):
    from transformers import XLMRobertaConfig, XLMRobertaModel
    return XLMRobertaModel(XLMRobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                            num_attention_heads=2, intermediate_size=64, max_position_embeddings=514,
                                            pad_token_id=tok.pad_token_id, initializer_range=0.5))


def _deberta_v2(tok):
    from transformers import DebertaV2Config, DebertaV2Model
    # mdeberta-v3-base's attention settings: relative positions in 256 log buckets, both disentangled terms
    return DebertaV2Model(DebertaV2Config(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                          num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
                                          relative_attention=True, position_buckets=256, pos_att_type=["p2c", "c2p"],
                                          type_vocab_size=0, pad_token_id=tok.pad_token_id, initializer_range=0.5))


def _t5(tok):
    from transformers import T5Config, T5ForConditionalGeneration
    # T5ForSequenceClassification reads the decoder state at the last EOS: the config must know the tokenizer's
    return T5ForConditionalGeneration(T5Config(vocab_size=len(tok), d_model=32, d_kv=16, d_ff=64, num_layers=2,
                                               num_heads=2, pad_token_id=tok.pad_token_id,
                                               eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id))


def _llama(tok):
    from transformers import LlamaConfig, LlamaForCausalLM
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512))


def _gemma3(tok):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig
    # gemma-3-270m is loaded as Gemma3TextForSequenceClassification (model_type gemma3_text)
    return Gemma3ForCausalLM(Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                              num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                              head_dim=16, max_position_embeddings=512, pad_token_id=tok.pad_token_id))


@dataclasses.dataclass(frozen=True)
class Family:
    build: object
    registered: str  # the registry entry of this architecture
    family: str  # encoder, decoder or encoder-decoder
    attention: tuple[str, ...]  # the query/key/value projections' module names
    head: str  # the fresh classification head, trained in full


FAMILIES = {
    "bert": Family(_bert, "mbert-base", "encoder", ("query", "key", "value"), "classifier"),
    "xlm-r": Family(_xlm_r, "xlm-roberta-large", "encoder", ("query", "key", "value"), "classifier"),
    "deberta-v2": Family(_deberta_v2, "mdeberta-v3-base", "encoder", ("query_proj", "key_proj", "value_proj"),
                         "classifier"),
    "t5": Family(_t5, "t5-base", "encoder-decoder", ("q", "k", "v"), "classification_head"),
    "llama": Family(_llama, "llama-3-8b", "decoder", ("q_proj", "k_proj", "v_proj"), "score"),
    "gemma3": Family(_gemma3, "gemma-3-270m", "decoder", ("q_proj", "k_proj", "v_proj"), "score"),
}
NAMES = list(FAMILIES)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models gain nothing from more threads; leave the machine's other cores alone."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, tokenizer):
    """``make(name)``: the folder of the tiny model of that family (built once per session)."""
    made: dict[str, str] = {}

    def make(name: str) -> str:
        if name not in made:
            torch.manual_seed(0)
            path = tmp_path_factory.mktemp(f"tiny-{name}")
            FAMILIES[name].build(tokenizer).save_pretrained(path)
            tokenizer.save_pretrained(path)
            made[name] = str(path)
        return made[name]
    return make


@pytest.fixture(scope="session")
def fresh_base(tiny_folder):
    """``load(name)``: a copy of (tiny model with a fresh head, tokenizer) from ``load_base`` on its folder,
    seeded as ``train_teacher`` seeds it (``TeacherConfig.seed`` 0), so it is the model training starts
    from: LoRA starts as the identity. Loaded once per family, as loading the 250k-word vocabulary is the
    slow part."""
    loaded: dict[str, tuple] = {}

    def load(name: str):
        if name not in loaded:
            torch.manual_seed(0)
            loaded[name] = load_base(get_backbone(tiny_folder(name)))
        model, tok = loaded[name]
        return copy.deepcopy(model), tok
    return load


def _peft_model(model, backbone):
    from peft import LoraConfig, get_peft_model
    targets = list(backbone.lora_targets) if isinstance(backbone.lora_targets, tuple) else backbone.lora_targets
    return get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=8, target_modules=targets,
                                            modules_to_save=list(backbone.modules_to_save)))


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_lora_reaches_every_layer_and_trains_the_head(name, tiny_folder, fresh_base):
    """Both the local folder and the registry entry of the architecture put LoRA on the query, key and
    value projections of both layers and train the fresh head in full (else it is never saved)."""
    fam = FAMILIES[name]
    folder = tiny_folder(name)
    local = get_backbone(folder)
    registered = dataclasses.replace(BACKBONES[fam.registered], loader=lambda: (folder, {}))
    assert local.family == registered.family == fam.family
    for backbone in (local, registered):
        model = _peft_model(fresh_base(name)[0], backbone)
        wrapped = [n for n, m in model.named_modules() if hasattr(m, "lora_A")]
        for proj in fam.attention:
            assert sum(n.endswith("." + proj) for n in wrapped) >= 2, (backbone.source, proj, wrapped)
        trainable = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
        assert any(f"{fam.head}.modules_to_save" in n for n in trainable), (backbone.source, trainable)


def _loss(probs: np.ndarray, levels) -> float:
    return float(-np.log(probs[np.arange(len(probs)), np.asarray(levels) - 1] + 1e-12).mean())


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_teacher_trains_reloads_and_ignores_padding(name, tiny_folder, fresh_base, demo_catalog, tmp_path):
    folder = tiny_folder(name)
    labels = labels_for(demo_catalog, n_queries=8)
    cfg = TeacherConfig(backbone=folder, epochs=1, batch_size=4, lr=1e-2, dev_fraction=0.25, max_length=64,
                        query_max_tokens=16, label_smoothing=0.0, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                        prior="none", checkpoint_every=0, threads=1)
    rows = demo_catalog.rows(labels["product_id"].tolist()).to_dict("records")
    queries = labels["query"].tolist()

    assert cfg.seed == 0, "fresh_base is the model training starts from only for seed 0"
    start, tok = fresh_base(name)
    start.eval()
    enc = PairEncoder(tok, get_backbone(folder), cfg.max_length, cfg.query_max_tokens)
    with torch.inference_mode():
        before = _loss(torch.softmax(start(**enc.encode(queries, rows)).logits, -1).numpy(), labels["level"])

    out = train_teacher(labels, demo_catalog, tmp_path / "teacher", cfg, progress=False).out
    teacher = Teacher(out, demo_catalog)
    p = teacher.predict_pairs(queries, rows)
    after = _loss(p, labels["level"])
    # 1. a few steps lower the loss (on this toy set mostly by learning the level prior; a head that is
    # not trained and saved stays where it started)
    assert after < 0.9 * before, (before, after)

    again = Teacher(out, demo_catalog).predict_pairs(queries, rows)
    np.testing.assert_allclose(again, p, atol=1e-6)  # 2. the artifact reloads to the same predictions

    # 3. a short pair scores the same alone and padded inside a batch of longer pairs
    short = ({"product_id": "a", "title": "desk lamp"}, "lamp")
    longs = [({"product_id": f"l{i}", "title": f"a very long title number {i} " * 6, "brand": "Acme"},
              "ceiling fan without light") for i in range(2)]
    batch = enc.encode([q for _, q in [short, *longs]], [pr for pr, _ in [short, *longs]])
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum(), "the short pair is padded"
    alone = teacher.predict_pairs([short[1]], [short[0]])
    together = teacher.predict_pairs([q for _, q in [short, *longs]], [pr for pr, _ in [short, *longs]], batch_size=8)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-4)
    assert np.abs(together[1] - alone[0]).max() > 1e-3, "the scores depend on the input"


def test_unknown_backbone_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"unknown backbone 'llama-9'; available: .*e5-small-ce.*, or a folder"):
        get_backbone("llama-9")
    with pytest.raises(ValueError, match="unknown backbone .*or a folder with a transformers model"):
        get_backbone(str(tmp_path))  # a folder, but no config.json in it


@pytest.mark.parametrize("name", NAMES, ids=NAMES)
def test_layer_cache_replays_the_frozen_bottom_exactly(name, fresh_base, tokenizer):
    """core.models.teacher.layer_cache: states kept at the input of layer 1 and replayed (in another batch order, so
    with other padding) give the logits of the full forward."""
    from core.models.teacher.layer_cache import LayerCache, lora_targets

    model, tok = fresh_base(name)
    backbone = get_backbone(model.name_or_path)
    if FAMILIES[name].family == "encoder-decoder":
        with pytest.raises(ValueError, match="not encoder-decoders"):
            lora_targets(model, backbone.lora_targets, 1)
        return
    targets = lora_targets(model, backbone.lora_targets, 1)
    assert targets and all(".1." in t for t in targets), targets  # the adapter skips the frozen layer 0
    model = _peft_model(model, dataclasses.replace(backbone, lora_targets=tuple(targets)))
    model.eval()
    enc = PairEncoder(tok, backbone, 64, 16)
    pairs = [("lamp", {"product_id": "a", "title": "desk lamp"}),
             ("ceiling fan without light", {"product_id": "b", "title": "a long title of a ceiling fan " * 3}),
             ("usb c cable", {"product_id": "c", "title": "braided usb c cable 2 m", "brand": "Acme"})]
    keys = [(q, p["product_id"]) for q, p in pairs]
    batch = enc.encode([q for q, _ in pairs], [p for _, p in pairs])
    with torch.no_grad():
        full = model(**batch).logits
    cache = LayerCache(model, 1)
    cache.fill(keys, batch)
    order = [2, 0, 1]
    again = enc.encode([pairs[i][0] for i in order], [pairs[i][1] for i in order])
    with torch.no_grad(), cache.replay([keys[i] for i in order], again):
        replayed = model(**again).logits
    torch.testing.assert_close(replayed, full[order], atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # the bottom layer is back after the block
        torch.testing.assert_close(model(**batch).logits, full)
    with pytest.raises(ValueError, match="freeze_layers must be between 1 and 1"):
        LayerCache(model, 2)


@pytest.mark.parametrize("name", ["xlm-r", "gemma3"])
def test_frozen_bottom_training_matches_full_inference(name, tiny_folder, demo_catalog, tmp_path):
    """Training with freeze_layers evaluates dev through the cache; the saved teacher, run in full, must
    reproduce the recorded dev nDCG, and its adapter holds nothing of the frozen layer."""
    from safetensors.torch import load_file

    from core.models.teacher import dev_metrics as _dev_metrics
    folder = tiny_folder(name)
    labels = labels_for(demo_catalog, n_queries=8)
    cfg = TeacherConfig(backbone=folder, epochs=2, batch_size=4, lr=1e-2, dev_fraction=0.25, max_length=64,
                        query_max_tokens=16, label_smoothing=0.0, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                        prior="none", checkpoint_every=0, threads=1, freeze_layers=1, patience=5)
    res = train_teacher(labels, demo_catalog, tmp_path / "teacher", cfg, progress=False)
    keys = list(load_file(str(res.out / "adapter_model.safetensors")))
    assert any("lora" in k for k in keys) and not any(".0." in k and "lora" in k for k in keys), keys
    dev_ids = set(json.loads((res.out / "teacher.json").read_text())["dev_query_ids"])
    dev = labels[labels["query_id"].isin(dev_ids)].reset_index(drop=True)
    probs = Teacher(res.out, demo_catalog).predict_pairs(dev["query"].tolist(),
                                                         demo_catalog.rows(dev["product_id"].tolist()).to_dict("records"))
    best = res.metrics["best"]
    assert best["epoch"] >= 1, res.metrics["history"]
    assert _dev_metrics(probs, dev)["ndcg@20_esci"] == pytest.approx(best["ndcg@20_esci"], abs=1e-6)
    assert _dev_metrics(probs, dev)["accuracy"] == pytest.approx(best["accuracy"], abs=1e-9)
