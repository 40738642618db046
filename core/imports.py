"""Validated imports of products, judgments and query logs into the store (DESIGN.md, "Input files").

Each import reads its file in chunks, validates every row, and raises ``ImportValidationError`` listing
row numbers and reasons before anything is written. Only then does it write, in one transaction.
Re-importing the same file changes nothing: products are compared field by field, labels are appended
only when the file's level differs from the current label of the same (query, product, rater, source),
and query-log rows are keyed by (query, date, source).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core import readers
from core.catalog import text_column
from core.errors import ImportValidationError, RowError
from core.language import detect_languages
from core.queries import query_id_for
from core.scales import COLUMN_SCALE, parse_scale
from db.models import ImportRecord, Label, Product, Query, QueryLogEntry
from core.store.labels import current_labels
from core.store.session import session_scope

log = logging.getLogger(__name__)

PRODUCT_TEXT_FIELDS = ("title", "description", "bullet_points", "brand", "color", "category", "image",
                       "caption", "top_queries", "language")
PRODUCT_NUMBER_FIELDS = {"price": (float, 0.0, math.inf), "rating": (float, 0.0, 5.0),
                         "rating_count": (int, 0, math.inf)}
PRODUCT_FIELDS = PRODUCT_TEXT_FIELDS + tuple(PRODUCT_NUMBER_FIELDS)
MAX_ERRORS = 10_000
WRITE_BATCH = 50_000
_LANG_RE = r"^[a-z]{2}$"


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


class _Errors:
    def __init__(self):
        self.items: list[RowError] = []

    def add(self, rows, column: str, message: str | Callable[[int], str]) -> None:
        for r in rows:
            if len(self.items) >= MAX_ERRORS:
                return
            self.items.append(RowError(int(r), column, message(r) if callable(message) else message))

    def rows(self) -> set[int]:
        return {e.row for e in self.items}


def _finish_validation(file_name: str, errors: _Errors, total: int, skip_bad_rows: bool) -> list[RowError]:
    errors.items.sort(key=lambda e: (e.row, e.column))
    if errors.items and not skip_bad_rows:
        raise ImportValidationError(file_name, errors.items, total)
    return errors.items


def _record(kind: str, name: str, path: Path, rows: int, inserted: int) -> dict:
    return dict(kind=kind, name=name, file_name=path.name, sha256=readers.sha256(path), rows=rows, inserted=inserted)


# --------------------------------------------------------------------------------------------- products

def _text_value(v) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, (list, tuple, np.ndarray)):
        parts = [str(x).strip() for x in v if x is not None and str(x).strip()]
        return "\n".join(parts) or None
    s = str(v).strip()
    return s or None


def _number_value(v, kind, lo, hi):
    """Return (value, error message or None)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
        return None, None
    try:
        x = float(v)
        if kind is int:
            if x != int(x):
                raise ValueError
            x = int(x)
    except (TypeError, ValueError):
        return None, f"{v!r} is not a {'whole ' if kind is int else ''}number"
    if not lo <= x <= hi:
        return None, f"{x} is out of range [{lo}, {hi}]"
    return x, None


def import_products(path: str | Path, *, name: str | None = None, url: str | None = None,
                    skip_bad_rows: bool = False) -> ImportReport:
    """Import a product catalog (JSONL(.gz), CSV or Parquet); see DESIGN.md "Core objects"."""
    path = Path(path)
    name = name or path.name.split(".")[0]
    errors, seen, products, total = _Errors(), {}, {}, 0
    present: set[str] = set()  # fields the file has: a re-import leaves the others as they are
    for chunk in readers.iter_chunks(path):
        if total == 0:
            readers.require_columns(path.name, chunk.columns, ["product_id", "title"])
        present.update(f for f in PRODUCT_FIELDS if f in chunk.columns)
        total += len(chunk)
        pids = text_column(chunk, "product_id")
        for row, rec in zip(chunk.index, chunk.to_dict("records")):
            pid = pids[row]
            if not pid:
                errors.add([row], "product_id", "missing product_id")
                continue
            if pid in seen:
                errors.add([row], "product_id", f"duplicate product_id {pid!r} (first on row {seen[pid]})")
                continue
            seen[pid] = row
            values = {f: _text_value(rec.get(f)) for f in PRODUCT_TEXT_FIELDS}
            if not values["title"]:
                errors.add([row], "title", "missing title")
            if values["language"] and not pd.Series([values["language"]]).str.match(_LANG_RE).iloc[0]:
                errors.add([row], "language", f"{values['language']!r} is not an ISO 639-1 code such as 'en'")
            for f, (kind, lo, hi) in PRODUCT_NUMBER_FIELDS.items():
                values[f], msg = _number_value(rec.get(f), kind, lo, hi)
                if msg:
                    errors.add([row], f, msg)
            products[pid] = values
    skipped = _finish_validation(path.name, errors, total, skip_bad_rows)
    bad = {e.row for e in skipped}
    report = ImportReport("products", name, path.name, rows=total, skipped=skipped)
    with session_scope(url, immediate=True) as s:
        existing = {p.product_id: p for p in s.scalars(select(Product))}
        new, changed = [], []
        for pid, values in products.items():
            if seen[pid] in bad:
                continue
            old = existing.get(pid)
            if old is None:
                new.append(dict(product_id=pid, **values))
                continue
            given = {f: v for f, v in values.items() if f in present}
            if any(getattr(old, f) != v for f, v in given.items()):
                changed.append(dict(id=old.id, **given))
        for i in range(0, len(new), WRITE_BATCH):
            s.execute(insert(Product), new[i:i + WRITE_BATCH])
        if changed:
            s.execute(update(Product), changed)
        report.inserted, report.updated = len(new), len(changed)
        report.unchanged = len(products) - len(bad & set(seen.values())) - len(new) - len(changed)
        s.add(ImportRecord(**_record("products", name, path, total, len(new) + len(changed))))
    log.info(report.summary())
    return report


# ------------------------------------------------------------------------------------------ queries

@dataclass
class _QueryTable:
    """Distinct queries met in a file: query_id -> (text, given language, first row)."""

    by_id: dict[str, tuple[str, str, int]] = field(default_factory=dict)

    def add_chunk(self, chunk: pd.DataFrame, texts: pd.Series, ok: pd.Series, errors: _Errors) -> pd.Series:
        """Return the query_id of each row (given in a ``query_id`` column or derived from the text)."""
        given = text_column(chunk, "query_id")
        qids = given.copy()
        derive = ok & (given == "")
        if derive.any():
            qids[derive] = [query_id_for(t) for t in texts[derive]]
        langs = text_column(chunk, "language").str.lower()
        bad_lang = ok & (langs != "") & ~langs.str.match(_LANG_RE)
        errors.add(chunk.index[bad_lang], "language",
                   lambda r: f"{langs[r]!r} is not an ISO 639-1 code such as 'en' or 'es'")
        frame = pd.DataFrame({"qid": qids, "text": texts, "lang": langs})[ok & ~bad_lang]
        for row, qid, text, lang in frame.drop_duplicates(["qid", "text"]).itertuples():
            have = self.by_id.get(qid)
            if have is None:
                self.by_id[qid] = (text, lang, row)
            elif have[0].casefold() != text.casefold():
                errors.add([row], "query_id", f"query_id {qid!r} stands for {have[0]!r} on row {have[2]} "
                                              f"but for {text!r} here")
        return qids

    def write(self, s: Session, qids_needed: set[str]) -> dict[str, int]:
        """Insert the queries the store lacks (detecting languages); return query_id -> primary key."""
        pk = _lookup(s, Query.query_id, Query.id, qids_needed)
        missing = [q for q in qids_needed if q not in pk]
        if missing:
            detect = [q for q in missing if not self.by_id[q][1]]
            detected = dict(zip(detect, detect_languages([self.by_id[q][0] for q in detect]))) if detect else {}
            rows = [dict(query_id=q, text=self.by_id[q][0], language=self.by_id[q][1] or detected[q], count=0)
                    for q in missing]
            for i in range(0, len(rows), WRITE_BATCH):
                s.execute(insert(Query), rows[i:i + WRITE_BATCH])
            pk.update(_lookup(s, Query.query_id, Query.id, set(missing)))
        return pk


def _lookup(s: Session, key_col, value_col, keys: set[str], batch: int = 900) -> dict:
    keys = list(keys)
    out = {}
    for i in range(0, len(keys), batch):
        out.update(s.execute(select(key_col, value_col).where(key_col.in_(keys[i:i + batch]))).tuples().all())
    return out


def _query_texts(chunk: pd.DataFrame, errors: _Errors) -> tuple[pd.Series, pd.Series]:
    texts = text_column(chunk, "query")
    empty = texts == ""
    errors.add(chunk.index[empty], "query", "empty or whitespace-only query")
    return texts, ~empty


def _duplicate_errors(keys: list[np.ndarray], rows: list[np.ndarray], errors: _Errors, what: str) -> None:
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


# ------------------------------------------------------------------------------------------ judgments

def _level_column(file_name: str, columns, scale) -> tuple[str, dict[str, int], str]:
    col = next((c for c in ("level", "esci_label", "grade") if c in columns), None)
    readers.require_columns(file_name, columns, ["query", "product_id"], one_of=list(COLUMN_SCALE))
    spec = scale if scale is not None else COLUMN_SCALE[col]
    if spec is None:
        raise ImportValidationError(file_name, [RowError(0, "grade", "a 'grade' column needs --scale "
                                                                     "(esci, 0-3, 5pt or a mapping such as 'bad=1,good=5')")])
    mapping = parse_scale(spec)
    lookup = {}
    for k, v in mapping.items():
        for variant in (k, k.upper(), k.lower(), f"{k}.0"):
            lookup.setdefault(variant, v)
    return col, lookup, spec if isinstance(spec, str) else "custom"


class _JudgmentRows:
    """Validates judgments chunk by chunk; remembers only queries and 8-byte row keys (for duplicates)."""

    def __init__(self, path: Path, scale, product_ids: set[str] | None):
        self.path, self.scale, self.product_ids = path, scale, product_ids
        self.errors, self.queries, self.total = _Errors(), _QueryTable(), 0
        self.keys: list[np.ndarray] = []
        self.key_rows: list[np.ndarray] = []
        self.col = None

    def chunk(self, chunk: pd.DataFrame, first_pass: bool = True) -> pd.DataFrame:
        """The valid rows of ``chunk`` (row, query_id, product_id, level, rater); records errors on the first pass."""
        errors = self.errors if first_pass else _Errors()
        if self.col is None:
            self.col, self.lookup, self.scale_name = _level_column(self.path.name, chunk.columns, self.scale)
        texts, ok = _query_texts(chunk, errors)
        pids = text_column(chunk, "product_id")
        no_pid = pids == ""
        errors.add(chunk.index[no_pid], "product_id", "missing product_id")
        if self.product_ids is not None:
            unknown = ~no_pid & ~pids.isin(self.product_ids)
            errors.add(chunk.index[unknown], "product_id",
                       lambda r: f"unknown product_id {pids[r]!r} (import the products first)")
            ok &= ~unknown
        col, raw = self.col, text_column(chunk, self.col)
        levels = raw.map(self.lookup)
        bad_level = levels.isna()
        allowed = ", ".join(sorted({k for k in self.lookup if "." not in k}))
        errors.add(chunk.index[bad_level], col,
                   lambda r: f"{raw[r]!r} is not on the {self.scale_name} scale (expected one of {allowed})"
                   if raw[r] else f"missing {col}")
        ok &= ~no_pid & ~bad_level
        qids = (self.queries if first_pass else _QueryTable()).add_chunk(chunk, texts, ok, errors)
        good = pd.DataFrame({"row": chunk.index, "query_id": qids, "product_id": pids,
                             "level": levels, "rater": text_column(chunk, "rater")})[ok]
        if first_pass:
            self.total += len(chunk)
            self.keys.append(pd.util.hash_pandas_object(good[["query_id", "product_id", "rater"]],
                                                        index=False).to_numpy())
            self.key_rows.append(good["row"].to_numpy())
        return good.astype({"level": "int8"})

    def finish(self, skip_bad_rows: bool) -> list[RowError]:
        _duplicate_errors(self.keys, self.key_rows, self.errors, "judgment: query, product_id and rater repeat")
        self.keys = self.key_rows = []
        return _finish_validation(self.path.name, self.errors, self.total, skip_bad_rows)


def read_judgments(path: str | Path, *, scale=None, product_ids: set[str] | None = None,
                   skip_bad_rows: bool = False) -> tuple[pd.DataFrame, _QueryTable, list[RowError], int]:
    """Validate a judgments file and return all of it in memory: (rows, queries, skipped errors, total rows).

    ``rows`` has columns row, query_id, product_id, level, rater. Raises ImportValidationError when any
    row is bad (unless ``skip_bad_rows``). ``product_ids`` is the catalog the products must belong to.
    """
    v = _JudgmentRows(Path(path), scale, product_ids)
    rows = pd.concat([v.chunk(c) for c in readers.iter_chunks(path)], ignore_index=True)
    skipped = v.finish(skip_bad_rows)
    if skipped:
        rows = rows[~rows["row"].isin({e.row for e in skipped})]
    return rows, v.queries, skipped, v.total


def import_judgments(path: str | Path, *, scale=None, name: str | None = None, url: str | None = None,
                     skip_bad_rows: bool = False) -> ImportReport:
    """Import human judgments as labels with source ``import:<name>`` (append-only).

    Two passes over the file keep memory flat: the first validates every row (keeping only the distinct
    queries and an 8-byte key per row for duplicate detection), the second writes, in one transaction.
    """
    path = Path(path)
    name = name or path.name.split(".")[0]
    source = f"import:{name}"
    with session_scope(url) as s:
        product_pk = dict(s.execute(select(Product.product_id, Product.id)).tuples().all())
    v = _JudgmentRows(path, scale, set(product_pk))
    for chunk in readers.iter_chunks(path):
        v.chunk(chunk)
    skipped = v.finish(skip_bad_rows)
    bad = {e.row for e in skipped}
    report = ImportReport("judgments", name, path.name, rows=v.total, skipped=skipped)
    now = datetime.now(timezone.utc)
    with session_scope(url, immediate=True) as s:
        qpk = v.queries.write(s, set(v.queries.by_id))
        current = current_labels(s, source)
        for chunk in readers.iter_chunks(path):
            rows = v.chunk(chunk, first_pass=False)
            if bad:
                rows = rows[~rows["row"].isin(bad)]
            new = pd.DataFrame({"query_pk": rows["query_id"].map(qpk).to_numpy(),
                                "product_pk": rows["product_id"].map(product_pk).to_numpy(),
                                "rater": rows["rater"].to_numpy(), "level": rows["level"].to_numpy()})
            merged = new.merge(current, on=["query_pk", "product_pk", "rater"], how="left", suffixes=("", "_old"))
            same = merged["level"] == merged["level_old"]
            todo = merged[~same]
            old_ids = todo["id"].astype(object).where(todo["id"].notna(), None)
            records = [dict(query_pk=int(q), product_pk=int(p), level=int(lv), rater=r or None, source=source,
                            supersedes_id=None if old is None else int(old), created_at=now)
                       for q, p, lv, r, old in zip(todo["query_pk"], todo["product_pk"], todo["level"],
                                                   todo["rater"], old_ids)]
            for i in range(0, len(records), WRITE_BATCH):
                s.execute(insert(Label), records[i:i + WRITE_BATCH])
            report.unchanged += int(same.sum())
            report.updated += int(todo["id"].notna().sum())
            report.inserted += len(records) - int(todo["id"].notna().sum())
        s.add(ImportRecord(**_record("judgments", name, path, v.total, report.inserted + report.updated)))
    log.info(report.summary())
    return report


# ------------------------------------------------------------------------------------------ multi-rater files

def read_ratings(path: str | Path, scale=None) -> tuple[pd.DataFrame, tuple]:
    """Read a multi-rater labels file: query, product_id (or doc_id), rater, a level column.

    The level column is ``level`` (1–5), ``esci_label`` or ``grade`` with ``scale`` (DESIGN.md, input
    files); an optional ``seconds`` column is kept. Validation is the judgments import's (``core.readers``
    and ``core.scales``): every bad row is listed and nothing is returned when any row is bad; a missing
    rater is an error here.

    Returns:
        (ratings with columns item, query_id, product_id, rater, level[, seconds]; the scale's ordered levels).
    """
    path = Path(path)
    v = _JudgmentRows(path, scale, None)
    parts, missing_rater = [], []
    for chunk in readers.iter_chunks(path):
        if "product_id" not in chunk.columns and "doc_id" in chunk.columns:
            chunk = chunk.rename(columns={"doc_id": "product_id"})
        if "rater" not in chunk.columns:
            raise ImportValidationError(path.name, [RowError(0, "rater", "agreement needs a 'rater' column (found: "
                                                                         f"{', '.join(map(str, chunk.columns))})")])
        good = v.chunk(chunk)
        missing_rater += [RowError(int(r), "rater", "missing rater") for r in good.loc[good["rater"] == "", "row"]]
        if "seconds" in chunk.columns:
            good["seconds"] = pd.to_numeric(chunk.loc[good["row"], "seconds"], errors="coerce").to_numpy()
        parts.append(good)
    v.errors.items.extend(missing_rater)
    v.finish(skip_bad_rows=False)
    df = pd.concat(parts, ignore_index=True)
    df["item"] = df["query_id"] + "\x1f" + df["product_id"]
    df["level"] = df["level"].astype(int)
    return df.drop(columns="row"), tuple(sorted(set(v.lookup.values())))


# ------------------------------------------------------------------------------------------ query log

def import_queries(path: str | Path, *, name: str | None = None, url: str | None = None,
                   skip_bad_rows: bool = False) -> ImportReport:
    """Import a query log (CSV: ``query``, optional ``count``, ``date``, ``language``, ``query_id``).

    Each (query, date) row is kept once per source; a query's ``count`` is the sum over its log rows.
    """
    path = Path(path)
    name = name or path.name.split(".")[0]
    source = f"import:{name}"
    errors, queries, total, parts, keys, key_rows = _Errors(), _QueryTable(), 0, [], [], []
    for chunk in readers.iter_chunks(path):
        if total == 0:
            readers.require_columns(path.name, chunk.columns, ["query"])
        total += len(chunk)
        texts, ok = _query_texts(chunk, errors)
        raw = text_column(chunk, "count")
        counts = pd.to_numeric(raw.where(raw != "", "1"), errors="coerce")
        bad = counts.isna() | (counts < 0) | (counts != counts.round())
        errors.add(chunk.index[bad], "count", lambda r: f"{raw[r]!r} is not a whole number ≥ 0")
        ok &= ~bad
        qids = queries.add_chunk(chunk, texts, ok, errors)
        good = pd.DataFrame({"row": chunk.index, "query_id": qids, "date": text_column(chunk, "date"),
                             "count": counts, "raw": chunk["query"].astype(str)})[ok]
        # The same raw text twice on one date is an error; variants that differ only in case or spacing
        # ("soundbar" and "soundbar ") are one query, and their counts add up.
        keys.append(pd.util.hash_pandas_object(good[["raw", "date"]], index=False).to_numpy())
        key_rows.append(good["row"].to_numpy())
        parts.append(good)
    _duplicate_errors(keys, key_rows, errors, "query-log row: the same query text and date")
    skipped = _finish_validation(path.name, errors, total, skip_bad_rows)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[~rows["row"].isin({e.row for e in skipped})]
    rows = rows.groupby(["query_id", "date"], as_index=False, sort=False)["count"].sum()
    report = ImportReport("queries", name, path.name, rows=total, skipped=skipped)
    with session_scope(url, immediate=True) as s:
        qpk = queries.write(s, set(rows["query_id"]))
        rows = rows.assign(query_pk=rows["query_id"].map(qpk))
        old = pd.DataFrame(s.execute(select(QueryLogEntry.id, QueryLogEntry.query_pk, QueryLogEntry.date,
                                            QueryLogEntry.count).where(QueryLogEntry.source == source)).all(),
                           columns=["id", "query_pk", "date", "count_old"])
        merged = rows.merge(old, on=["query_pk", "date"], how="left")
        fresh = merged[merged["id"].isna()]
        changed = merged[merged["id"].notna() & (merged["count"] != merged["count_old"])]
        if len(fresh):
            s.execute(insert(QueryLogEntry), [dict(query_pk=int(q), date=d, count=int(c), source=source)
                                              for q, d, c in zip(fresh["query_pk"], fresh["date"], fresh["count"])])
        if len(changed):
            s.execute(update(QueryLogEntry), [dict(id=int(i), count=int(c))
                                              for i, c in zip(changed["id"], changed["count"])])
        touched = set(int(q) for q in rows["query_pk"])
        totals = _lookup_counts(s, touched)
        s.execute(update(Query), [dict(id=q, count=totals.get(q, 0)) for q in touched])
        report.inserted, report.updated = len(fresh), len(changed)
        report.unchanged = len(merged) - len(fresh) - len(changed)
        s.add(ImportRecord(**_record("queries", name, path, total, len(fresh) + len(changed))))
    log.info(report.summary())
    return report


def _lookup_counts(s: Session, query_pks: set[int]) -> dict[int, int]:
    from sqlalchemy import func

    pks, out = list(query_pks), {}
    for i in range(0, len(pks), 900):
        out.update(s.execute(select(QueryLogEntry.query_pk, func.sum(QueryLogEntry.count))
                             .where(QueryLogEntry.query_pk.in_(pks[i:i + 900]))
                             .group_by(QueryLogEntry.query_pk)).tuples().all())
    return {int(k): int(v) for k, v in out.items()}
