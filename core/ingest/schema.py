"""The declared schema of each input file kind: what every value may be, checked for every row before writing.

One table per kind (``SCHEMAS``) says each column's type, its finite range and the most characters that
fit its database column on both SQLite and PostgreSQL (``db/models.py``: ``String(64)`` ids, ``String(128)``
raters, ``Integer`` counts, which PostgreSQL keeps in 32 bits). Text never holds a NUL character
(PostgreSQL refuses it), a value is never a JSON object, and a list is allowed only where the column joins
lists (bullet points, categories). ``check`` turns every violation into a row error whose message quotes
at most ~80 characters of the bad value (``quote``); the importers add their own checks after it (scales,
unknown products, duplicates).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

INT32_MAX = 2**31 - 1  # PostgreSQL's INTEGER
MAX_PRICE = 1e9
SOURCE_MAX = 128  # labels.source = "import:<name>"
NAME_MAX = SOURCE_MAX - len("import:")


def quote(value, limit: int = 80) -> str:
    """``repr`` of a value for an error message, cut to about ``limit`` characters (a 1 MB id is not echoed)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Column:
    """One column: ``kind`` text, texts (text or a list of texts), number or integer; ``max_chars`` for text."""

    name: str
    kind: str = "text"
    max_chars: int | None = None
    lo: float = 0.0
    hi: float = math.inf


_ID = 64  # products.product_id, queries.query_id
_LANG = 8
SCHEMAS: dict[str, tuple[Column, ...]] = {
    "products": (
        Column("product_id", max_chars=_ID), Column("title"), Column("description"),
        Column("bullet_points", "texts"), Column("brand", max_chars=256), Column("color", max_chars=256),
        Column("category", "texts"), Column("image"), Column("caption"), Column("top_queries", "texts"),
        Column("language", max_chars=_LANG), Column("price", "number", hi=MAX_PRICE),
        Column("rating", "number", hi=5.0), Column("rating_count", "integer", hi=INT32_MAX),
    ),
    "judgments": (
        Column("query"), Column("query_id", max_chars=_ID), Column("product_id", max_chars=_ID),
        Column("doc_id", max_chars=_ID), Column("rater", max_chars=128), Column("language", max_chars=_LANG),
        Column("level", max_chars=32), Column("esci_label", max_chars=32), Column("grade", max_chars=32),
        Column("seconds", "number", hi=1e7),
    ),
    "queries": (
        Column("query"), Column("query_id", max_chars=_ID), Column("date", max_chars=32),
        Column("count", "integer", hi=INT32_MAX), Column("language", max_chars=_LANG),
    ),
}


def _kind_of(v) -> str | None:
    """What a non-text value is, in the words of the file's format (None: a scalar that reads as text)."""
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "a list"
    if isinstance(v, (bool, np.bool_)):
        return "true/false"
    if isinstance(v, bytes):
        return "binary data"
    return None


def _text_problem(v, col: Column) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    kind = _kind_of(v)
    if kind == "a list" and col.kind == "texts":
        inner = next((_kind_of(x) for x in v if _kind_of(x)), None)
        if inner:
            return f"a list may hold only text; this one holds {inner}"
        return next((p for x in v if (p := _text_problem(x, Column(col.name))) is not None), None)
    if kind:
        return f"expected text, got {kind}: {quote(v)}"
    if isinstance(v, float) and not math.isfinite(v):
        return f"expected text, got {v}"
    s = str(v)
    if "\x00" in s:
        return f"contains a NUL character: {quote(s)}"
    if col.max_chars is not None and len(s.strip()) > col.max_chars:
        return f"is {len(s.strip()):,} characters long; at most {col.max_chars} fit: {quote(s)}"
    return None


def _number_problem(v, col: Column) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    whole = "whole " if col.kind == "integer" else ""
    if _kind_of(v):
        return f"expected a {whole}number, got {_kind_of(v)}: {quote(v)}"
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return f"{quote(v)} is not a {whole}number"
    if not math.isfinite(x):
        return f"{quote(v)} is not a finite number"
    if col.kind == "integer" and x != int(x):
        return f"{quote(v)} is not a whole number"
    if not col.lo <= x <= col.hi:
        return f"{quote(v)} is out of range [{_bound(col.lo)}, {_bound(col.hi)}]"
    return None


def _bound(x: float) -> str:
    return f"{int(x):,}" if math.isfinite(x) and x == int(x) else f"{x:g}"


def check(chunk: pd.DataFrame, kind: str, errors) -> pd.Series:
    """Check every declared column of ``chunk`` (rows indexed by row number); record row errors in ``errors``
    (``Errors``) and return the mask of rows that passed."""
    ok = pd.Series(True, index=chunk.index)
    for col in SCHEMAS[kind]:
        if col.name not in chunk.columns:
            continue
        values = chunk[col.name]
        if col.kind in ("text", "texts") and _plain_strings(values):
            problems = _string_problems(values, col)
        else:
            test = _number_problem if col.kind in ("number", "integer") else _text_problem
            problems = values.map(lambda v, _c=col, _t=test: _t(v, _c))
        bad = problems.notna()
        if bad.any():
            errors.add(chunk.index[bad], col.name, lambda r, _p=problems: _p[r])
            ok &= ~bad
    return ok


def _plain_strings(values: pd.Series) -> bool:
    """All values are str (CSV, or JSON strings): the vectorised path applies (pandas' C type inference)."""
    return pd.api.types.infer_dtype(values, skipna=False) == "string"


def _string_problems(values: pd.Series, col: Column) -> pd.Series:
    """``_text_problem`` for a column of strings, vectorised (a CSV of a million rows stays fast)."""
    out = pd.Series(None, index=values.index, dtype=object)
    nul = values.str.contains("\x00", regex=False)
    out[nul] = [f"contains a NUL character: {quote(v)}" for v in values[nul]]
    if col.max_chars is not None:
        lengths = values.str.len()
        long = ~nul & (lengths > col.max_chars)
        lengths[long] = values[long].str.strip().str.len()  # spaces around a value are not kept
        long &= lengths > col.max_chars
        out[long] = [f"is {n:,} characters long; at most {col.max_chars} fit: {quote(v)}"
                     for v, n in zip(values[long], lengths[long])]
    return out


def name_problem(name: str) -> str | None:
    """Why an import's ``--name`` (kept in ``labels.source`` as ``import:<name>``) cannot be stored, or None."""
    if not name.strip():
        return "the import's name is empty; give --name NAME"
    if "\x00" in name:
        return "the import's name contains a NUL character"
    if len(name) > NAME_MAX:
        return f"the import's name is {len(name)} characters long; at most {NAME_MAX} fit (give a shorter --name)"
    return None
