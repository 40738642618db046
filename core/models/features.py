"""Student features of (query, product) pairs (DESIGN.md, "Student features").

One pair's feature vector is ``[dense | q | p | q⊙p]``:

* **dense** (``DENSE`` names, in order): the embedding cosine ``q·p``; BM25 (``log1p`` and relative to
  the best product of the whole catalog, so a pair's value never depends on the other candidates);
  text match (query-token overlap with title, brand, colour and all text; numbers and number+unit
  tokens such as ``30in`` matching or contradicting; negation cues — ``without``, ``no``, ``not``,
  ``sin``, ``ohne``, ``sans``, ``senza``… — with the negated words found in the product); engagement
  (rating, ``log1p`` rating count and price, missing indicators); language (query language one-hot
  over ``FeatureConfig.languages`` + other, query language == product language);
* **q**, **p**, **q⊙p**: the query and product embeddings of a multilingual encoder
  (``core.models.embeddings``) and their element-wise product.

Everything is a pure function of the pair and the catalog, so features are deterministic and
independent of batch composition. Product-side work (token matrices, engagement, embeddings) is done
once per catalog and cached; product embeddings are also cached on disk (``EmbeddingStore``).
"""

from __future__ import annotations

import functools
import re
import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.catalog import Catalog
from core.text.queries import clean_query
from core.text.tokenize import words

FEATURE_VERSION = 1

NEGATION_CUES = frozenset({"without", "no", "not", "non", "sin", "ohne", "sans", "senza", "kein", "keine",
                           "zonder", "sem", "bez"})
STOPWORDS = frozenset(
    "a an the for with and or of in on to by at from is are my your it this that "  # en
    "de la el los las para con y o en un una del al por "  # es
    "der die das den dem für mit und oder von im ein eine zu "  # de
    "le les pour avec et ou des du une au aux "  # fr
    "il lo per e di da gli "  # it
    "os as com do da em um uma".split())  # pt
COLOR_WORDS = frozenset(
    "black white red blue green yellow orange pink purple brown grey gray silver gold beige navy "
    "negro negra blanco blanca rojo roja azul verde amarillo rosa morado gris dorado "
    "schwarz weiss weiß rot blau grün gelb braun grau silber "
    "noir noire blanc blanche rouge bleu vert verte jaune rose violet marron "
    "nero nera bianco bianca rosso blu giallo grigio".split())
_UNITS = {
    "in": ("inches", "inch", "in", '"', "”", "''"), "ft": ("feet", "foot", "ft"), "mm": ("mm",), "cm": ("cm",),
    "m": ("meters", "meter", "metres", "metre", "m"), "gb": ("gb",), "tb": ("tb",), "mb": ("mb",),
    "ml": ("ml",), "l": ("liters", "liter", "litres", "litre", "lt", "l"), "oz": ("ounces", "ounce", "oz"),
    "lb": ("pounds", "pound", "lbs", "lb"), "kg": ("kg",), "g": ("grams", "gram", "g"), "w": ("watts", "watt", "w"),
    "v": ("volts", "volt", "v"), "mah": ("mah",), "hz": ("hz",), "qt": ("quarts", "quart", "qt"),
    "gal": ("gallons", "gallon", "gal"), "pack": ("pack", "pk", "pcs", "pieces", "piece", "count", "ct"),
}
_UNIT_OF = {alias: unit for unit, aliases in _UNITS.items() for alias in aliases}
_NUM_UNIT = re.compile(r"(?<![\d.,])(\d+(?:[.,]\d+)?)[\s-]*(" + "|".join(
    re.escape(a) for a in sorted(_UNIT_OF, key=len, reverse=True)) + r")?(?![a-z0-9])", re.IGNORECASE)

DENSE = (
    "cosine", "bm25_log", "bm25_rel",
    "title_overlap", "title_cover", "text_overlap", "brand_in_query", "brand_missing", "color_in_query",
    "color_mismatch", "query_len",
    "query_has_number", "number_in_title", "number_in_text", "number_mismatch", "unit_match", "unit_mismatch",
    "query_negation", "negated_in_title", "negated_in_text",
    "rating", "rating_missing", "rating_count_log", "rating_count_missing", "price_log", "price_missing",
    "same_language",
)


def product_text(row, fields: Sequence[str]) -> str:
    """The product's ``fields`` joined by spaces, missing (None, NaN) and blank ones left out: what the encoder
    embeds of a product."""
    return " ".join(str(row[f]) for f in fields
                    if row[f] is not None and not (isinstance(row[f], float) and row[f] != row[f]) and str(row[f]).strip())


@dataclass(frozen=True)
class FeatureConfig:
    """What goes into a pair's features (saved with every student; a mismatch warns at load).

    Args:
        encoder: ``core.models.embeddings`` encoder name (``use`` or ``e5``).
        product_fields: product fields embedded, joined by spaces.
        languages: query languages one-hot encoded (others share one ``lang_other`` column).
        embedding_blocks: which of ``q``, ``p``, ``qp`` (element-wise product) follow the dense features.
    """

    encoder: str = "use"
    product_fields: tuple[str, ...] = ("title", "brand", "color")
    languages: tuple[str, ...] = ("en", "es", "de", "fr")
    embedding_blocks: tuple[str, ...] = ("q", "p", "qp")


def _stem(t: str) -> str:
    return t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") and not t[-2].isdigit() else t


def tokens(text: object) -> list[str]:
    """Case-folded word tokens (``core.text.tokenize.words``: CJK runs as character bigrams) with a crude
    plural strip (``towels`` → ``towel``), in order."""
    if text is None or (isinstance(text, float) and text != text):
        return []
    return [_stem(t) for t in words(str(text))]


def numbers(text: object) -> set[str]:
    """Number tokens of ``text``: ``#30`` for every number, ``30in`` when a unit follows, ``u:in`` per unit."""
    out: set[str] = set()
    if text is None or (isinstance(text, float) and text != text):
        return out
    for num, unit in _NUM_UNIT.findall(str(text).casefold()):
        value = num.replace(",", ".")
        value = value.rstrip("0").rstrip(".") if "." in value else value.lstrip("0") or "0"
        out.add("#" + value)
        if unit:
            u = _UNIT_OF[unit.lower()]
            out |= {value + u, "u:" + u}
    return out


@dataclass(frozen=True)
class ParsedQuery:
    """What the features need of a query: content words, negated words, numbers."""

    text: str
    words: tuple[str, ...]  # content words (no stop words, cues or negated words), deduplicated
    negated: tuple[str, ...]
    numbers: frozenset[str]
    n_tokens: int


@functools.lru_cache(maxsize=4096)
def parse_query(text: str) -> ParsedQuery:
    toks = tokens(text)
    negated: list[str] = []
    cues = set(NEGATION_CUES)
    for i, t in enumerate(toks):
        if t in NEGATION_CUES:
            negated += [w for w in toks[i + 1:i + 3] if w not in STOPWORDS and w not in NEGATION_CUES][:2]
        elif t == "free" and i > 0 and toks[i - 1] not in STOPWORDS:  # "sugar free"
            negated.append(toks[i - 1])
            cues.add("free")
    words = [t for t in dict.fromkeys(toks) if t not in STOPWORDS and t not in cues and t not in negated]
    return ParsedQuery(text, tuple(words), tuple(dict.fromkeys(negated)), frozenset(numbers(text)), len(toks))


class _ProductSide:
    """Per-catalog precomputation: per-field posting lists (token → product positions), engagement and
    language columns. A query's overlap counts cost one scatter-add per query word, not a pass over the catalog."""

    def __init__(self, catalog: Catalog):
        df = catalog.products
        n = len(df)
        vocab: dict[str, int] = {}
        fields = {
            "title": [tokens(t) for t in df["title"]],
            "brand": [tokens(t) for t in df["brand"]],
            "color": [tokens(t) for t in df["color"]],
        }
        fields["text"] = [a + b + c + tokens(d) for a, b, c, d in
                          zip(fields["title"], fields["brand"], fields["color"], df["bullet_points"])]
        fields["num_title"] = [sorted(numbers(t)) for t in df["title"]]
        fields["num_text"] = [sorted(numbers(t) | numbers(b)) for t, b in zip(df["title"], df["bullet_points"])]
        self.n = n
        self.postings: dict[str, dict[int, np.ndarray]] = {}
        self.length = {}
        for name, rows in fields.items():
            r, c = [], []
            for i, toks in enumerate(rows):
                ids = {vocab.setdefault(t, len(vocab)) for t in toks}
                r += [i] * len(ids)
                c += ids
            r_arr, c_arr = np.asarray(r, dtype=np.int32), np.asarray(c, dtype=np.int64)
            order = np.argsort(c_arr, kind="stable")
            keys, starts = np.unique(c_arr[order], return_index=True)
            self.postings[name] = dict(zip(keys.tolist(), np.split(r_arr[order], starts[1:])))
            self.length[name] = np.array([len(set(t)) for t in rows], dtype=np.float32)
        self.vocab = vocab
        self.title_has_number = np.array([any(x.startswith("#") for x in t) for t in fields["num_title"]])
        rating = pd.to_numeric(df["rating"], errors="coerce").to_numpy(dtype=float)
        count = pd.to_numeric(df["rating_count"], errors="coerce").to_numpy(dtype=float)
        price = pd.to_numeric(df["price"], errors="coerce").to_numpy(dtype=float)
        self.engagement = np.stack([
            np.nan_to_num(rating / 5.0), np.isnan(rating), np.log1p(np.nan_to_num(np.clip(count, 0, None))) / 10,
            np.isnan(count), np.log1p(np.nan_to_num(np.clip(price, 0, None))) / 5, np.isnan(price)],
            axis=1).astype(np.float32)
        self.language = df["language"].fillna("").astype(str).str.lower().to_numpy()

    def overlap(self, field: str, words: Sequence[str], pos: np.ndarray) -> np.ndarray:
        """How many of ``words`` each product at ``pos`` has in ``field``."""
        postings = self.postings[field]
        lists = [postings[self.vocab[w]] for w in words if w in self.vocab and self.vocab[w] in postings]
        if not lists:
            return np.zeros(len(pos), dtype=np.float32)
        counts = np.zeros(self.n, dtype=np.float32)
        for rows in lists:
            counts[rows] += 1.0  # a product appears once per posting list
        return counts[pos]


class FeatureBuilder:
    """Features of pairs for one catalog; product-side work is done once and cached.

    Args:
        catalog: the products.
        cfg: the feature configuration.
        encoder: a ``core.models.embeddings`` encoder (default ``get_encoder(cfg.encoder)``).
        store: the product embedding store (default the on-disk store of that encoder).
        bm25: a ranker with ``score_all(query)`` in catalog order (default a new ``BM25Ranker``).
        default_language: language of products without one (default the ``default_language`` setting).

    Example::

        fb = FeatureBuilder(catalog)
        X = fb.transform("30 inch ceiling fan without light", ["B07...", "B08..."])   # (2, len(fb.names))
    """

    def __init__(self, catalog: Catalog, cfg: FeatureConfig = FeatureConfig(), *, encoder=None, store=None,
                 bm25=None, default_language: str | None = None):
        from core import config
        from core.models.embeddings import EmbeddingStore, get_encoder

        self.catalog, self.cfg = catalog, cfg
        self.encoder = encoder if encoder is not None else get_encoder(cfg.encoder)
        self.store = store if store is not None else EmbeddingStore(self.encoder)
        if bm25 is None:
            from core.models.rankers import BM25Ranker
            bm25 = BM25Ranker(catalog)
        self.bm25 = bm25
        self.default_language = (default_language or config.get("default_language")).strip().lower()
        self.dim = self.encoder.dim
        self._side: _ProductSide | None = None
        self._emb = np.zeros((len(catalog), self.dim), dtype=np.float32)
        self._have = np.zeros(len(catalog), dtype=bool)
        self._lock = threading.Lock()
        langs = [f"lang_{x}" for x in cfg.languages] + ["lang_other"]
        self.dense_names = list(DENSE) + langs
        self.names = self.dense_names + [f"{b}_{i}" for b in cfg.embedding_blocks for i in range(self.dim)]

    @property
    def schema(self) -> dict:
        """What a student trained on these features must be served with."""
        return {"feature_version": FEATURE_VERSION, "config": asdict(self.cfg), "encoder_version":
                self.encoder.version, "dim": self.dim, "dense": self.dense_names, "n_features": len(self.names)}

    @property
    def side(self) -> _ProductSide:
        if self._side is None:
            with self._lock:
                if self._side is None:
                    self._side = _ProductSide(self.catalog)
        return self._side

    def product_text(self, row) -> str:
        return product_text(row, self.cfg.product_fields)

    def embeddings(self, pos: np.ndarray, progress: bool = False) -> np.ndarray:
        """Product embeddings at catalog positions ``pos`` (from memory, else the disk store)."""
        pos = np.asarray(pos, dtype=np.int64)
        todo = np.unique(pos[~self._have[pos]])
        if len(todo):
            with self._lock:
                todo = todo[~self._have[todo]]
                rows = self.catalog.products.iloc[todo].to_dict("records")
                self._emb[todo] = self.store.get([self.product_text(r) for r in rows], progress=progress)
                self._have[todo] = True
        return self._emb[pos]

    def warm(self, product_ids: Sequence[str] | None = None, progress: bool = False) -> None:
        """Compute the product side now (token matrices, embeddings of ``product_ids`` or all products)."""
        _ = self.side
        pos = np.arange(len(self.catalog)) if product_ids is None else self.catalog.positions(product_ids)
        self.embeddings(pos, progress=progress)

    def query_language(self, query: str) -> str:
        return _query_language(query)

    def parts(self, query: str, product_ids: Sequence[str], q: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dense (n, m), q (dim,), P (n, dim))`` for one query: the serving fast path's input.

        ``q``: the query's embedding when already computed (bulk scoring embeds queries in batches).

        Raises:
            EmptyQueryError: the query is empty or whitespace. UnknownProductError: unknown product ids.
        """
        query = clean_query(query)
        pos = self.catalog.positions(product_ids)
        P = self.embeddings(pos)
        if q is None:
            q = self.encoder.encode_queries([query])[0]
        return self._dense(query, pos, q, P), q, P

    def transform(self, query: str, product_ids: Sequence[str]) -> np.ndarray:
        """The full feature matrix ``(n, len(names))`` of one query's pairs."""
        dense, q, P = self.parts(query, product_ids)
        return self.assemble(dense, q, P)

    def assemble(self, dense: np.ndarray, q: np.ndarray, P: np.ndarray) -> np.ndarray:
        blocks = {"q": lambda: np.broadcast_to(q, P.shape), "p": lambda: P, "qp": lambda: P * q}
        return np.concatenate([dense] + [blocks[b]() for b in self.cfg.embedding_blocks], axis=1).astype(np.float32)

    def pairs(self, pairs: pd.DataFrame, progress: bool = False) -> np.ndarray:
        """Features of many pairs (columns ``query``, ``product_id``), in row order, grouped by query."""
        from tqdm.auto import tqdm

        out = np.zeros((len(pairs), len(self.names)), dtype=np.float32)
        frame = pairs.reset_index(drop=True)
        self.warm(frame["product_id"].unique().tolist(), progress=progress)
        groups = frame.groupby("query", sort=False).indices
        for query, idx in tqdm(groups.items(), desc="features", disable=not progress, leave=False):
            out[idx] = self.transform(query, frame["product_id"].to_numpy()[idx].tolist())
        return out

    def _dense(self, query: str, pos: np.ndarray, q: np.ndarray, P: np.ndarray) -> np.ndarray:
        side, pq = self.side, parse_query(query)
        n = len(pos)
        nw = max(len(pq.words), 1)
        bm = np.asarray(self.bm25.score_all(query), dtype=np.float32)
        top = float(bm.max()) if len(bm) else 0.0
        bm = bm[pos]
        title = side.overlap("title", pq.words, pos)
        text = side.overlap("text", pq.words, pos)
        brand = side.overlap("brand", pq.words, pos)
        color = side.overlap("color", pq.words, pos)
        qcolors = [w for w in pq.words if w in COLOR_WORDS]
        color_hit = side.overlap("color", qcolors, pos) + side.overlap("title", qcolors, pos)
        nums = sorted(x for x in pq.numbers if x.startswith("#"))
        units = sorted(x for x in pq.numbers if not x.startswith(("#", "u:")))
        unit_types = sorted(x for x in pq.numbers if x.startswith("u:"))
        num_title = side.overlap("num_title", nums, pos)
        unit_hit = side.overlap("num_text", units, pos)
        unit_type_hit = side.overlap("num_text", unit_types, pos)
        neg_title = side.overlap("title", pq.negated, pos)
        neg_text = side.overlap("text", pq.negated, pos)
        has_num, has_neg = float(bool(nums)), float(bool(pq.negated))
        lang = self.query_language(query)
        plang = side.language[pos]
        plang = np.where(plang == "", self.default_language, plang)
        onehot = np.zeros(len(self.cfg.languages) + 1, dtype=np.float32)
        onehot[self.cfg.languages.index(lang) if lang in self.cfg.languages else -1] = 1.0
        cols = [
            (P * q).sum(axis=1), np.log1p(bm), bm / top if top > 0 else np.zeros(n, np.float32),
            title / nw, title / np.maximum(side.length["title"][pos], 1), text / nw,
            brand / np.maximum(side.length["brand"][pos], 1), (side.length["brand"][pos] == 0),
            color / np.maximum(side.length["color"][pos], 1),
            np.full(n, bool(qcolors)) & (color_hit == 0), np.full(n, np.log1p(pq.n_tokens)),
            np.full(n, has_num), num_title / max(len(nums), 1),
            side.overlap("num_text", nums, pos) / max(len(nums), 1),
            has_num * (side.title_has_number[pos] & (num_title == 0)),
            unit_hit / max(len(units), 1), (unit_type_hit > 0) & (unit_hit == 0) & bool(units),
            np.full(n, has_neg), neg_title / max(len(pq.negated), 1), neg_text / max(len(pq.negated), 1),
        ]
        dense = np.column_stack([np.asarray(c, dtype=np.float32) for c in cols])
        return np.concatenate([dense, side.engagement[pos], (plang == lang)[:, None].astype(np.float32),
                               np.broadcast_to(onehot, (n, len(onehot)))], axis=1)


@functools.lru_cache(maxsize=8192)
def _query_language(query: str) -> str:
    from core.text.language import detect_language
    return detect_language(query)


_SHARED: dict[tuple, tuple[weakref.ref, FeatureBuilder]] = {}
_SHARED_LOCK = threading.Lock()


def shared_builder(catalog: Catalog, cfg: FeatureConfig = FeatureConfig()) -> FeatureBuilder:
    """One FeatureBuilder per (catalog object, config) in this process, so students share the product side."""
    key = (id(catalog), cfg)
    with _SHARED_LOCK:
        ref, fb = _SHARED.get(key, (None, None))
        if ref is None or ref() is not catalog:
            fb = FeatureBuilder(catalog, cfg)
            _SHARED[key] = (weakref.ref(catalog), fb)
        return fb
