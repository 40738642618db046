"""The bi-encoder teacher: the feature prior's 5-way logistic regression over the pair's dense features plus one
more column, the cosine of multilingual-e5-small fine-tuned as a bi-encoder on the labelled pairs
(``core.models.teacher.biencoder``). No cross-encoder: scoring a pair costs the student's features and two e5
embeddings, each query and product embedded once per process.

Under 4-fold cross-validation on esci_multilingual (every layer trained) it beat the feature prior alone
(exact-vs-irrelevant AUC 0.833 → 0.844, Holm p 0.016; teacher card) where no cross-encoder did.
``core.models.teacher.bienc_train`` trains it; its folder holds ``teacher.json`` (``arch`` ``biencoder``: the
prior's state, the bi-encoder's config, scale and thresholds, the dev and training queries) and
``biencoder.safetensors`` (the fine-tuned layers in fp16; the embedding tables and frozen layers come back from
the base model).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.errors import InvalidInputError
from core.models.base import CatalogPairScorer, Progress, reporter
from core.models.features import product_text
from core.models.teacher.biencoder import BiEncoder
from core.models.teacher.config import read_teacher_meta
from core.models.teacher.priors import FeaturePrior

ARCH = "biencoder"
COSINE = "biencoder_cosine"  # the prior's extra column
EMBEDDING_CACHE = 100_000  # texts whose embeddings a process keeps (~150 MB at 384 floats)


class BiEncoderTeacher(CatalogPairScorer):
    """A trained bi-encoder teacher: ``predict_pairs`` → (n, 5) level probabilities.

    ``int8``: dynamic int8 quantisation of the encoder's linear layers on CPU.
    """

    def __init__(self, artifact: str | Path, catalog: Catalog | None = None, *, batch_size: int = 64,
                 int8: bool = False):
        self.path = Path(artifact)
        self.meta = read_teacher_meta(self.path)
        if self.meta.get("arch") != ARCH:
            raise InvalidInputError(f"{self.path} holds no bi-encoder teacher (arch {self.meta.get('arch')!r})")
        self.name = self.meta.get("name", "teacher")
        self.catalog, self.batch_size = catalog, batch_size
        self.prior = FeaturePrior(catalog, self.meta["prior"])
        self.encoder = BiEncoder.load(self.path, self.meta["biencoder"])
        if int8:
            import torch
            self.encoder.model = torch.ao.quantization.quantize_dynamic(self.encoder.model, {torch.nn.Linear},
                                                                         dtype=torch.qint8)
        self._vecs: dict[str, np.ndarray] = {}
        self._lock, self._cache_lock = threading.Lock(), threading.Lock()

    @property
    def max_length(self) -> int:
        """Tokens the bi-encoder reads of a query or a product text."""
        return self.encoder.cfg.max_length

    def product_texts(self, products: Sequence[Mapping]) -> list[str]:
        """What the bi-encoder reads of each product (the feature prior's product text: title, brand, colour)."""
        return [self.prior.builder.product_text(p) for p in products]

    def cosines(self, queries: Sequence[str], products: Sequence[Mapping]) -> np.ndarray:
        """The fine-tuned cosine of each pair (n,)."""
        q = self._embed(list(queries), "query: ")
        p = self._embed(self.product_texts(products), "passage: ")
        return (q * p).sum(1).astype(np.float32)

    def _embed(self, texts: list[str], prefix: str) -> np.ndarray:
        with self._cache_lock:  # the cache is shared by every thread that scores with this teacher
            if len(self._vecs) > EMBEDDING_CACHE:
                self._vecs.clear()
            todo = list(dict.fromkeys(t for t in texts if prefix + t not in self._vecs))
            if todo:
                vecs = self.encoder.encode(todo, prefix, self.batch_size)
                self._vecs.update({prefix + t: v for t, v in zip(todo, vecs)})
            if not texts:
                return np.zeros((0, self.encoder.model.config.hidden_size), np.float32)
            return np.stack([self._vecs[prefix + t] for t in texts])

    def predict_pairs(self, queries: Sequence[str], products: Sequence[Mapping], batch_size: int | None = None,
                      progress: Progress = False) -> np.ndarray:
        """Probabilities of levels 1…5 for each (query, product) pair, shape (n, 5)."""
        import torch

        n = len(queries)
        if n == 0:
            return np.zeros((0, 5), np.float32)
        with self._lock, torch.inference_mode(), reporter(progress, n, "teacher scoring") as advance:
            cos = self.cosines(queries, products)
            logits = self.prior.logits(list(queries), list(products), extra=cos[:, None])
            advance(n)
        return torch.softmax(logits, -1).numpy().astype(np.float32)


def passage_builder(meta: dict, tokenizer) -> Callable[[Mapping], str]:
    """What a saved bi-encoder teacher (``meta``: its ``teacher.json``) reads of a product, as text: ``passage: ``
    and the prior's product fields, cut where its ``max_length`` tokens (special tokens included) end, as its
    tokenizer truncates. ``tokenizer``: a ``tokenizers.Tokenizer`` of its base (the web server has no torch)."""
    fields = meta["prior"]["feature_config"]["product_fields"]
    max_length = meta["biencoder"]["config"]["max_length"]

    def build(product: Mapping) -> str:
        text = "passage: " + product_text({f: product.get(f) for f in fields}, fields)
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        room = max_length - 2  # [CLS] … [SEP]
        return text if len(ids) <= room else tokenizer.decode(ids[:room]).strip() + " …"
    return build
