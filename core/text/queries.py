"""Query text normalisation and stable query ids."""

from __future__ import annotations

import hashlib
import re

from core.errors import EmptyQueryError

_WS = re.compile(r"\s+")


def clean_query(text: object) -> str:
    """Strip and collapse whitespace; raise EmptyQueryError for empty or whitespace-only text."""
    cleaned = _WS.sub(" ", str(text if text is not None else "")).strip()
    if not cleaned:
        raise EmptyQueryError("query text is empty or only whitespace; give a non-empty query")
    return cleaned


def query_key(text: str) -> str:
    """The text two queries must share to be the same query: cleaned and case-folded."""
    return clean_query(text).casefold()


def query_id_for(text: str) -> str:
    """Stable id of a query's text: ``q`` + 10 hex digits of SHA-1 of its key (DESIGN.md: Query)."""
    return "q" + hashlib.sha1(query_key(text).encode("utf-8")).hexdigest()[:10]
