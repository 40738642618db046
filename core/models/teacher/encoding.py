"""(query, product) pairs as model inputs: ``query [SEP] pin text`` for encoders, a prompt for decoders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.models.teacher.backbones import Backbone
from core.text.pin import tokenizer_builder

DECODER_PROMPT = ("Search query: {query}\nProduct: {pin}\n"
                  "How relevant is the product to the query (1 = highly irrelevant, 5 = highly relevant)? Answer:")


def pin_budget(backbone: Backbone, max_length: int, query_max_tokens: int) -> int:
    """Tokens left for the pin text after the query and the special tokens (or the decoder's prompt)."""
    return max(16, max_length - query_max_tokens - (40 if backbone.family == "decoder" else 4))


class PairEncoder:
    """Turns (query, product) pairs into model inputs for one backbone and tokenizer."""

    def __init__(self, tokenizer, backbone: Backbone, max_length: int, query_max_tokens: int):
        self.tok, self.backbone, self.max_length = tokenizer, backbone, max_length
        self.query_max_tokens = query_max_tokens
        self.pin = tokenizer_builder(tokenizer, max_tokens=pin_budget(backbone, max_length, query_max_tokens))
        self._pin_cache: dict[str, str] = {}

    def pin_text(self, product: Mapping) -> str:
        pid = product.get("product_id")
        if pid is None:
            return self.pin(product)
        if pid not in self._pin_cache:
            self._pin_cache[pid] = self.pin(product)
        return self._pin_cache[pid]

    def _query(self, query: str) -> str:
        ids = self.tok(query, add_special_tokens=False)["input_ids"]
        return query if len(ids) <= self.query_max_tokens else self.tok.decode(ids[:self.query_max_tokens])

    def encode(self, queries: Sequence[str], products: Sequence[Mapping]):
        qs = [self._query(q) for q in queries]
        pins = [self.pin_text(p) for p in products]
        if self.backbone.family == "decoder":
            texts = [DECODER_PROMPT.format(query=q, pin=p) for q, p in zip(qs, pins)]
            return self.tok(texts, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt")
        return self.tok(qs, pins, truncation="only_second", max_length=self.max_length, padding=True,
                        return_tensors="pt")
