"""The LLM/encoder cross-encoder teacher: 5-class LoRA fine-tuning and batched scoring.

Input is ``query [SEP] pin text`` for encoders (the tokenizer's own pair template) and a prompt that
ends with the relevance question for decoders, whose head reads the last non-pad token. Training
fine-tunes LoRA adapters (qLoRA on CUDA for big backbones) plus the head, with a query-level
train/dev split, early stopping on dev nDCG@20 (esci gains), checkpoints and resume. An artifact
folder holds only what was trained (``adapter_model.safetensors`` in fp16, ``adapter_config.json``,
``teacher.json``); the base weights are rebuilt from their package at load time.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.models.base import CatalogPairScorer, Progress, reporter
from core.models.teacher.backbones import device, get_backbone, load_base
from core.models.teacher.config import TeacherConfig, read_teacher_meta
from core.models.teacher.encoding import PairEncoder
from core.models.teacher.priors import make_prior


class Teacher(CatalogPairScorer):
    """A trained teacher: ``predict_proba(query, product_ids)`` → (n, 5) level probabilities.

    Loads the base from its package, applies the adapter and merges it (so inference pays no LoRA
    overhead), and scores in length-bucketed batches under ``torch.inference_mode``.
    """

    def __init__(self, artifact: str | Path, catalog: Catalog | None = None, *, batch_size: int = 32,
                 int8: bool = False):
        import torch
        from peft import PeftModel

        self.path = Path(artifact)
        self.meta = read_teacher_meta(self.path)
        self.cfg = TeacherConfig(**self.meta["config"])
        self.backbone = get_backbone(self.cfg.backbone)
        self.name = self.meta.get("name", "teacher")
        self.catalog = catalog
        self.batch_size = batch_size
        base, tok = load_base(self.backbone)
        model = PeftModel.from_pretrained(base, self.path).merge_and_unload()
        model.eval()
        if int8 and device() == "cpu":
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model, self.tok = model, tok
        self.encoder = PairEncoder(tok, self.backbone, self.cfg.max_length, self.cfg.query_max_tokens)
        p = self.meta.get("prior")
        self.prior = make_prior(p.get("kind", "e5-cosine"), catalog, p) if p else None
        self._lock = threading.Lock()  # one forward at a time per model object (torch threads do the rest)

    @property
    def max_length(self) -> int:
        """Tokens the cross-encoder reads of a pair."""
        return self.cfg.max_length

    def predict_pairs(self, queries: Sequence[str], products: Sequence[Mapping], batch_size: int | None = None,
                      progress: Progress = False) -> np.ndarray:
        """Probabilities of levels 1…5 for each (query, product) pair, shape (n, 5); ``progress`` as in
        ``LevelScorer.predict_pairs`` (it moves with each batch)."""
        import torch

        n = len(queries)
        out = np.zeros((n, 5), dtype=np.float32)
        if n == 0:
            return out
        bs = batch_size or self.batch_size
        # length bucketing: similar lengths share a batch, so padding is small
        lengths = np.array([len(q) + len(self.encoder.pin_text(p)) for q, p in zip(queries, products)])
        order = np.argsort(lengths, kind="stable")
        dev = next(self.model.parameters()).device
        with self._lock, torch.inference_mode(), reporter(progress, n, "teacher scoring") as advance:
            # the prior of all pairs at once: one product warm-up and one batch of query embeddings
            prior = self.prior.logits(list(queries), list(products)) if self.prior is not None else None
            for i in range(0, n, bs):
                idx = order[i:i + bs]
                batch = self.encoder.encode([queries[j] for j in idx], [products[j] for j in idx])
                logits = self.model(**{k: v.to(dev) for k, v in batch.items()}).logits.float().cpu()
                if prior is not None:
                    logits = logits + prior[torch.as_tensor(idx)]
                out[idx] = torch.softmax(logits, -1).numpy()
                advance(len(idx))
        return out


def load_teacher(artifact: str | Path, catalog: Catalog | None = None, **kwargs) -> CatalogPairScorer:
    """The trained teacher in ``artifact``, by its ``teacher.json`` ``arch``: the cross-encoder (``Teacher``) or the
    feature prior + fine-tuned bi-encoder (``BiEncoderTeacher``); ``kwargs`` go to its constructor."""
    if read_teacher_meta(artifact).get("arch") == "biencoder":
        from core.models.teacher.bienc_model import BiEncoderTeacher
        return BiEncoderTeacher(artifact, catalog, **kwargs)
    return Teacher(artifact, catalog, **kwargs)
