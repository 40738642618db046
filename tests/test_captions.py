"""Image captions with a tiny randomly initialised BLIP (real architecture, saved and loaded from a local
folder like a downloaded one) on generated images."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from core.models.captions import CaptionCounts, Captioner, fill_captions, is_remote, local_image

WORDS = "a an the red green blue white black shoe shoes bag phone case lamp on of with".split()
COLOURS = ["red", "green", "blue", "white", "yellow", "purple"]


def _gradient(size: int = 48) -> Image.Image:
    g = np.tile(np.linspace(0, 255, size, dtype=np.uint8), (size, 1))
    return Image.fromarray(np.stack([g, g.T, 255 - g], axis=-1))


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    """Solid colours of odd sizes, a gradient and a greyscale image (converted to RGB by the captioner)."""
    return [Image.new("RGB", (40 + 3 * i, 30), c) for i, c in enumerate(COLOURS)] + [_gradient(), _gradient().convert("L")]


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory) -> str:
    """A 2-layer BLIP captioner with a 23-token WordPiece vocabulary, saved with its processor."""
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessorPil, BlipProcessor

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, "[DEC]"]
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, bos_token="[DEC]")
    torch.manual_seed(0)
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                max_position_embeddings=64, bos_token_id=tok.bos_token_id, sep_token_id=tok.sep_token_id,
                eos_token_id=tok.sep_token_id, pad_token_id=tok.pad_token_id, initializer_range=0.5)
    # a wide init so that the random model's caption depends on the image
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                  patch_size=8, initializer_range=1.0)
    cfg = BlipConfig(text_config=text, vision_config=vision, projection_dim=32, initializer_range=1.0)
    path = tmp_path_factory.mktemp("tiny-blip")
    BlipForConditionalGeneration(cfg).save_pretrained(path)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}), tokenizer=tok).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def captioner(tiny_blip) -> Captioner:
    return Captioner(tiny_blip, device="cpu", batch_size=3, max_new_tokens=8)


def test_tiny_blip_captions_generated_images(captioner, images):
    captions = captioner.caption_images(images)
    assert len(captions) == len(images)
    assert all(isinstance(c, str) for c in captions)
    assert all(set(c.split()) <= set(WORDS) for c in captions)  # special tokens are dropped
    assert len(set(captions)) > 1  # the caption depends on the image
    assert captioner.caption_images([]) == []


def test_batched_captions_match_one_by_one(captioner, images):
    one_by_one = [captioner.caption_images([im])[0] for im in images]
    assert captioner.caption_images(images) == one_by_one  # batches of 3: two full, one partial


def test_captioner_defaults_to_best_device(tiny_blip):
    from core.models.teacher.backbones import device

    c = Captioner(tiny_blip)
    assert c.device == device() and c.batch_size == 8 and c.max_new_tokens == 20
    assert next(c.model.parameters()).device.type == device()
    assert not c.model.training


def _products(tmp_path, images) -> pd.DataFrame:
    paths = []
    for i, im in enumerate(images[:4]):
        paths.append(tmp_path / f"p{i}.png")
        im.save(paths[-1])
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    rows = [
        ("p0", str(paths[0]), None),                        # filled
        ("p1", str(paths[1]), "  "),                        # blank caption: filled
        ("p2", f"file://{paths[2]}", math.nan),             # NaN caption, file:// path: filled
        ("p3", str(paths[3]), "a hand-written caption"),    # kept, image never loaded
        ("p4", "https://m.media-amazon.com/images/x.jpg", None),  # remote: skipped
        ("p5", str(tmp_path / "missing.png"), None),        # unloadable
        ("p6", str(tmp_path / "broken.jpg"), ""),           # unloadable
        ("p7", None, None),                                 # no image
        ("p8", "http://example.com/y.png", "kept too"),     # kept
    ]
    return pd.DataFrame(rows, columns=["product_id", "image", "caption"]).assign(title="t")


def test_fill_captions_fills_only_empty_loadable(captioner, images, tmp_path):
    products = _products(tmp_path, images)
    before = products.copy()
    calls = []

    def loader(image: str):
        calls.append(image)
        return local_image(image)

    out, counts = fill_captions(products, captioner, loader, progress=False)

    pd.testing.assert_frame_equal(products, before)  # the input is not modified
    assert out is not products and list(out.columns) == list(products.columns)
    expected = captioner.caption_images(images[:3])
    assert all(expected), "the tiny model gave an empty caption; pick other test images"
    assert out["caption"].tolist()[:3] == expected
    assert out.loc[3, "caption"] == "a hand-written caption" and out.loc[8, "caption"] == "kept too"
    assert out.loc[4:7, "caption"].tolist() == before.loc[4:7, "caption"].tolist()  # skipped rows untouched
    assert counts == CaptionCounts(filled=3, kept=2, no_image=1, remote=1, unloadable=2, blank=0)
    # the loader is asked only for empty captions with a local image, never for remote URLs or kept captions
    assert sorted(calls) == sorted(products.loc[[0, 1, 2, 5, 6], "image"])
    assert out.drop(columns="caption").equals(products.drop(columns="caption"))


def test_fill_captions_adds_missing_or_all_nan_caption_column(captioner, images, tmp_path):
    images[0].save(tmp_path / "a.png")
    no_col = pd.DataFrame({"product_id": ["a", "b"], "image": [str(tmp_path / "a.png"), "https://x/y.jpg"]})
    out, counts = fill_captions(no_col, captioner, progress=False)
    assert "caption" not in no_col.columns
    assert out["caption"].tolist() == [captioner.caption_images(images[:1])[0], None]
    assert (counts.filled, counts.remote) == (1, 1)

    all_nan = no_col.assign(caption=np.nan)
    out, counts = fill_captions(all_nan, captioner, progress=False)
    assert out.loc[0, "caption"] == captioner.caption_images(images[:1])[0] and counts.filled == 1


def test_fill_captions_leaves_blank_model_output_empty(images, tmp_path):
    class Blank:
        batch_size = 2

        def caption_images(self, ims):
            return [""] * len(ims)

    images[0].save(tmp_path / "a.png")
    products = pd.DataFrame({"image": [str(tmp_path / "a.png")], "caption": [None]})
    out, counts = fill_captions(products, Blank(), progress=False)
    assert out.loc[0, "caption"] is None and (counts.filled, counts.blank) == (0, 1)


def test_is_remote():
    assert is_remote("https://m.media-amazon.com/a.jpg") and is_remote(" HTTP://x/y.png")
    assert not is_remote("/data/images/a.jpg") and not is_remote("file:///data/a.jpg")


def _write(folder, config: dict | list | None = None, weights: bool = False):
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize("make, error, says", [
    (lambda p: p / "nowhere", FileNotFoundError, "does not exist"),
    (lambda p: _write(p / "empty"), ValueError, "no config.json"),
    (lambda p: _write(p / "bert", {"model_type": "bert"}, weights=True), ValueError, "holds a 'bert' model"),
    (lambda p: _write(p / "bad-json", ["not", "a", "config"], weights=True), ValueError, "not a transformers config"),
    (lambda p: _write(p / "no-weights", {"model_type": "blip"}), ValueError, "no weights"),
], ids=["missing", "empty", "not-blip", "bad-config", "no-weights"])
def test_bad_folder_gives_clear_error(tmp_path, make, error, says):
    folder = make(tmp_path)
    with pytest.raises(error, match=re.escape(says)) as exc:
        Captioner(folder)
    assert str(folder) in str(exc.value)
    assert "off by default for the offline demo" in str(exc.value)


def test_folder_without_processor_gives_clear_error(tiny_blip, tmp_path):
    import shutil

    folder = tmp_path / "weights-only"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(f"{tiny_blip}/{name}", folder / name)
    with pytest.raises(ValueError, match="no usable processor/tokenizer") as exc:
        Captioner(folder)
    assert str(folder) in str(exc.value)
