"""Pin text: what the teacher reads about a product (DESIGN.md, "Teacher input").

Fields go in a fixed priority order, each with a token budget, so that a long description can
never push out the title, brand or colour::

    title (48) · brand (12) · color (8) · category (16) · bullet points (64) · description (64)
    · image caption (24) · top engagement queries (24)

Budgets are in tokens of the model's own tokenizer. A field's unused budget is not lent to others
(so the layout of short and long products is the same), and the total is finally cut at
``max_tokens`` from the end, which drops the least informative fields first. Missing or empty
fields are left out with their label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from core.errors import InvalidInputError
from core.text.tokenize import units

FIELD_ORDER: tuple[tuple[str, str, int], ...] = (
    ("title", "title", 48),
    ("brand", "brand", 12),
    ("color", "color", 8),
    ("category", "category", 16),
    ("bullet_points", "features", 64),
    ("description", "description", 64),
    ("caption", "image", 24),
    ("top_queries", "searched as", 24),
)


@dataclass(frozen=True)
class PinTextBuilder:
    """Builds pin texts with token budgets measured by ``tokenize`` / rebuilt by ``detokenize``.

    Args:
        tokenize: text -> list of token ids (no special tokens).
        detokenize: list of token ids -> text.
        max_tokens: cap of the whole pin text in tokens.
        fields: (field, label, budget) in priority order.
    """

    tokenize: Callable[[str], list[int]]
    detokenize: Callable[[list[int]], str]
    max_tokens: int = 192
    fields: Sequence[tuple[str, str, int]] = FIELD_ORDER

    def parts(self, product: Mapping) -> list[tuple[str, str]]:
        """(label, truncated text) of each present field, in priority order."""
        out, used = [], 0
        for field, label, budget in self.fields:
            value = product.get(field)
            if value is None or (isinstance(value, float) and value != value):
                continue
            text = " ".join(str(value).split())
            if not text:
                continue
            ids = self.tokenize(text)
            room = min(budget, self.max_tokens - used)
            if room <= 0:
                break
            if len(ids) > room:
                text = self.detokenize(ids[:room]).strip() + " …"
                ids = ids[:room]
            used += len(ids)
            out.append((label, text))
        return out

    def __call__(self, product: Mapping) -> str:
        return " | ".join(f"{label}: {text}" for label, text in self.parts(product))


def whitespace_builder(max_tokens: int = 192) -> PinTextBuilder:
    """A builder that counts words instead of model tokens (for displays and tests without a tokenizer);
    in Chinese, Japanese and Korean text each character counts as a word (``core.text.tokenize.units``)."""
    vocab: dict[str, int] = {}
    inverse: dict[int, str] = {}

    def tok(text: str) -> list[int]:
        ids = []
        for w in units(text):
            if w not in vocab:
                vocab[w] = len(vocab)
                inverse[vocab[w]] = w
            ids.append(vocab[w])
        return ids

    return PinTextBuilder(tok, lambda ids: "".join(inverse[i] for i in ids).strip(), max_tokens)


def tokenizer_builder(tokenizer, max_tokens: int = 192) -> PinTextBuilder:
    """A builder for a Hugging Face tokenizer: a transformers tokenizer (training, ``PairEncoder``) or a
    ``tokenizers.Tokenizer`` read from a ``tokenizer.json`` (the web server, which never imports torch).

    Both count and cut in the tokenizer's ids without special tokens and decode without them, so a product's
    pin text is the same whichever kind reads the same tokenizer.

    Raises:
        InvalidInputError: ``tokenizer`` is neither kind.
    """
    from tokenizers import Tokenizer

    if isinstance(tokenizer, Tokenizer):
        def tokenize(text: str) -> list[int]:
            return tokenizer.encode(text, add_special_tokens=False).ids
    elif callable(tokenizer) and hasattr(tokenizer, "decode"):
        def tokenize(text: str) -> list[int]:
            return tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        raise InvalidInputError(f"expected a transformers tokenizer or a tokenizers.Tokenizer, got "
                                f"{type(tokenizer).__name__}; load one with AutoTokenizer.from_pretrained or "
                                f"Tokenizer.from_file")
    return PinTextBuilder(tokenize, lambda ids: tokenizer.decode(ids, skip_special_tokens=True), max_tokens)
