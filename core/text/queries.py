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
    """Stable id of a query's text: ``q`` + 16 hex digits (64 bits) of SHA-1 of its key (DESIGN.md: Query).

    Ids of 40 bits collided ("cheap usb cable 746867" and "… 1326582"); with 64 bits a store of a billion
    queries has a collision with probability ~3%. Stored ids never change: see ``legacy_query_id_for``.
    """
    return "q" + hashlib.sha1(query_key(text).encode("utf-8")).hexdigest()[:16]


def legacy_query_id_for(text: str) -> str:
    """The 40-bit id that stores made before 64-bit ids gave a query's text (``q`` + 10 hex digits).

    Existing stores and bundled files keep these ids; an import recognises a stored query under its legacy
    id only when the stored text is the same (so the colliding texts above are two queries).
    """
    return "q" + hashlib.sha1(query_key(text).encode("utf-8")).hexdigest()[:10]
