"""Small, fast stand-ins shared by the student, distillation and serving tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.models.base import LevelScorer
from core.models.features import tokens

DEMO = Path(__file__).resolve().parent.parent / "data" / "esci_us"


class HashEncoder:
    """A deterministic bag-of-words encoder: each token is a seeded random direction (16-d)."""

    name, version, dim = "hash", "1", 16

    def __init__(self):
        self.calls = 0
        self.texts = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, np.float64)
        for t in tokens(text):
            seed = int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "big")
            v += np.random.default_rng(seed).standard_normal(self.dim)
        n = np.linalg.norm(v)
        return (v / n if n else v).astype(np.float32)

    def encode_queries(self, texts):
        return np.stack([self._vec(t) for t in texts]) if len(texts) else np.zeros((0, self.dim), np.float32)

    def encode_products(self, texts):
        self.calls += 1
        self.texts += len(texts)
        return self.encode_queries(texts)


def small_catalog(n: int = 300) -> Catalog:
    """The first ``n`` demo products as a catalog (no database)."""
    return Catalog.from_frame(pd.read_json(DEMO / "products.jsonl.gz", lines=True).head(n))


class RuleTeacher(LevelScorer):
    """A fast stand-in teacher: the more of the query's words a title has, the higher the level.

    Has the teacher's ``predict_pairs(queries, products, batch_size=)`` and counts scored pairs;
    ``predict_proba`` needs a ``catalog`` to look the product ids up.
    """

    name = "teacher"

    def __init__(self, catalog: Catalog | None = None):
        self.scored, self.catalog = 0, catalog

    def predict_proba(self, query, product_ids):
        return self.predict_pairs([query] * len(product_ids), self.catalog.rows(product_ids).to_dict("records"))

    def predict_pairs(self, queries, products, batch_size=None, progress=False):
        self.scored += len(queries)
        out = np.zeros((len(queries), 5), np.float32)
        for i, (q, p) in enumerate(zip(queries, products)):
            qw = set(tokens(q))
            share = len(qw & set(tokens(p["title"]))) / max(len(qw), 1)
            logits = -((np.arange(5) - 4 * share) ** 2) / 0.8
            out[i] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        return out
