"""What every import shares: the report, the error list, value cleaning, the query table, lookups.

An import validates every row first (``Errors`` collects row numbers and reasons) and writes only when
the file is clean (or with ``skip_bad_rows``); ``finish_validation`` raises ``ImportValidationError``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from core.catalog import text_column
from core.errors import ImportValidationError, RowError
from core.ingest import readers
from core.ingest.schema import name_problem, quote
from core.text.language import detect_languages
from core.text.queries import legacy_query_id_for, query_id_for, query_key
from db.models import Query


log = logging.getLogger(__name__)

MAX_ERRORS = 10_000
WRITE_BATCH = 50_000
LANG_RE = r"^[a-z]{2}$"
IMPORT_LOCK = "imports"  # imports take it (db.session: an advisory lock on PostgreSQL), one at a time


@dataclass
class ImportReport:
    """What an import did. ``skipped`` holds the bad rows left out with ``skip_bad_rows=True``."""

    kind: str
    name: str
    file_name: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[RowError] = field(default_factory=list)

    def summary(self) -> str:
        s = (f"{self.kind} {self.file_name}: {self.rows} rows, {self.inserted} new, {self.updated} updated, "
             f"{self.unchanged} unchanged")
        return s + (f", {len(self.skipped)} bad rows skipped" if self.skipped else "")


class Errors:
    def __init__(self):
        self.items: list[RowError] = []

    def add(self, rows, column: str, message: str | Callable[[int], str]) -> None:
        for r in rows:
            if len(self.items) >= MAX_ERRORS:
                return
            self.items.append(RowError(int(r), column, message(r) if callable(message) else message))

    def rows(self) -> set[int]:
        return {e.row for e in self.items}


def finish_validation(file_name: str, errors: Errors, total: int, skip_bad_rows: bool) -> list[RowError]:
    errors.items.sort(key=lambda e: (e.row, e.column))
    if errors.items and not skip_bad_rows:
        raise ImportValidationError(file_name, errors.items, total)
    return errors.items


def check_name(file_name: str, name: str) -> str:
    """The import's name, or a file-level ImportValidationError when ``import:<name>`` cannot be stored."""
    problem = name_problem(name)
    if problem:
        raise ImportValidationError(file_name, [RowError(0, "name", problem)])
    return name


def import_record(kind: str, name: str, path: Path, rows: int, inserted: int) -> dict:
    return dict(kind=kind, name=name, file_name=path.name, sha256=readers.sha256(path), rows=rows, inserted=inserted)


def text_value(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        parts = [str(x).strip() for x in v if x is not None and str(x).strip()]
        return "\n".join(parts) or None
    s = str(v).strip()
    return s or None


def number_value(v, kind):
    """A cell as ``kind`` (int or float), None when empty; the schema (``core.ingest.schema``) has checked it."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None
    return int(float(v)) if kind is int else float(v)


@dataclass
class QueryTable:
    """Distinct queries met in a file: query_id -> (text, given language, first row).

    ``check_store`` (before the write transaction) matches them with the store: a file's ``query_id``
    stored for another text is a row error (its rows are ``conflicts``), a derived id resolves to a stored
    query of the same text under its 40-bit legacy id, and the languages of new queries are detected then,
    so nothing slow runs while the store is locked for writing.
    """

    by_id: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    derived: set[str] = field(default_factory=set)
    alias: dict[str, str] = field(default_factory=dict)
    detected: dict[str, str] = field(default_factory=dict)
    conflicts: set[str] = field(default_factory=set)

    def add_chunk(self, chunk: pd.DataFrame, texts: pd.Series, ok: pd.Series, errors: Errors) -> pd.Series:
        """Return the query_id of each row (given in a ``query_id`` column or derived from the text)."""
        given = text_column(chunk, "query_id")
        qids = given.copy()
        derive = ok & (given == "")
        if derive.any():
            qids[derive] = [query_id_for(t) for t in texts[derive]]
            self.derived.update(qids[derive])
        langs = text_column(chunk, "language").str.lower()
        bad_lang = ok & (langs != "") & ~langs.str.match(LANG_RE)
        errors.add(chunk.index[bad_lang], "language",
                   lambda r: f"{quote(langs[r])} is not an ISO 639-1 code such as 'en' or 'es'")
        frame = pd.DataFrame({"qid": qids, "text": texts, "lang": langs})[ok & ~bad_lang]
        for row, qid, text, lang in frame.drop_duplicates(["qid", "text"]).itertuples():
            have = self.by_id.get(qid)
            if have is None:
                self.by_id[qid] = (text, lang, row)
            elif have[0].casefold() != text.casefold():
                errors.add([row], "query_id", f"query_id {quote(qid)} stands for {quote(have[0])} on row {have[2]} "
                                              f"but for {quote(text)} here")
        return qids

    def check_store(self, s: Session, errors: Errors) -> None:
        """Match the file's queries with the store (read only; call before writing, then ``write``)."""
        stored = _stored_queries(s, set(self.by_id))
        for qid, (_, text) in stored.items():
            mine, _, row = self.by_id[qid]
            if query_key(text) != query_key(mine):
                self.conflicts.add(qid)
                errors.add([row], "query_id", f"query_id {quote(qid)} is stored for the query {quote(text)}, not "
                                              f"{quote(mine)} (every row with this query_id is refused)")
        legacy: dict[str, list[str]] = {}  # 40-bit ids collide: one legacy id may stand for several texts
        for q in self.derived:
            if q in self.by_id and q not in stored:
                legacy.setdefault(legacy_query_id_for(self.by_id[q][0]), []).append(q)
        for old, (_, text) in _stored_queries(s, set(legacy)).items():
            self.alias.update((q, old) for q in legacy[old] if query_key(text) == query_key(self.by_id[q][0]))
        new = [q for q in self.by_id if q not in stored and q not in self.alias and not self.by_id[q][1]]
        self.detected = dict(zip(new, detect_languages([self.by_id[q][0] for q in new]))) if new else {}

    def write(self, s: Session, qids_needed: set[str], file_name: str = "") -> dict[str, int]:
        """Insert the queries the store lacks; return query_id -> primary key (in the write transaction).

        Refuses (ImportValidationError, nothing written) a query_id that another writer stored for another
        text since ``check_store``.
        """
        key = {q: self.alias.get(q, q) for q in qids_needed}
        stored = _stored_queries(s, set(key.values()))
        moved = [q for q in qids_needed if key[q] in stored and q not in self.alias
                 and query_key(stored[key[q]][1]) != query_key(self.by_id[q][0])]
        if moved:
            raise ImportValidationError(file_name, [RowError(self.by_id[q][2], "query_id", f"query_id {quote(q)} was just "
                                                      f"stored for another query; import again") for q in moved])
        missing = [q for q in qids_needed if key[q] not in stored]
        late = [q for q in missing if not self.by_id[q][1] and q not in self.detected]
        if late:
            self.detected.update(zip(late, detect_languages([self.by_id[q][0] for q in late])))
        rows = [dict(query_id=q, text=self.by_id[q][0], language=self.by_id[q][1] or self.detected[q], count=0)
                for q in missing]
        for i in range(0, len(rows), WRITE_BATCH):
            s.execute(insert(Query), rows[i:i + WRITE_BATCH])
        pk = {q: stored[key[q]][0] for q in qids_needed if key[q] in stored}
        pk.update(lookup(s, Query.query_id, Query.id, set(missing)))
        return pk


def _stored_queries(s: Session, qids: set[str], batch: int = 900) -> dict[str, tuple[int, str]]:
    """query_id -> (primary key, text) of the stored queries among ``qids``."""
    qids, out = list(qids), {}
    for i in range(0, len(qids), batch):
        out.update((q, (pk, t)) for q, pk, t in s.execute(select(Query.query_id, Query.id, Query.text)
                                                          .where(Query.query_id.in_(qids[i:i + batch]))))
    return out


def lookup(s: Session, key_col, value_col, keys: set[str], batch: int = 900) -> dict:
    keys = list(keys)
    out = {}
    for i in range(0, len(keys), batch):
        out.update(s.execute(select(key_col, value_col).where(key_col.in_(keys[i:i + batch]))).tuples().all())
    return out


def query_texts(chunk: pd.DataFrame, errors: Errors) -> tuple[pd.Series, pd.Series]:
    texts = text_column(chunk, "query")
    empty = texts == ""
    errors.add(chunk.index[empty], "query", "empty or whitespace-only query")
    return texts, ~empty


def duplicate_errors(keys: list[np.ndarray], rows: list[np.ndarray], errors: Errors, what: str) -> None:
    if not keys:
        return
    k, r = np.concatenate(keys), np.concatenate(rows)
    order = np.argsort(k, kind="stable")
    k, r = k[order], r[order]
    dup = np.flatnonzero(k[1:] == k[:-1]) + 1
    if len(dup):
        first = {}
        for i in range(len(k)):
            first.setdefault(k[i], r[i])
        errors.add(r[dup], "", lambda row, _m={int(r[i]): int(first[k[i]]) for i in dup}:
                   f"duplicate {what} (same as row {_m[int(row)]})")
