"""Validated imports of products, judgments and query logs into the store (DESIGN.md, "Input files").

Each import reads its file in chunks, validates every row, and raises ``ImportValidationError`` listing
row numbers and reasons before anything is written. Only then does it write, in one transaction.
Re-importing the same file changes nothing: products are compared field by field, labels are appended
only when the file's level differs from the current label of the same (query, product, rater, source),
and query-log rows are keyed by (query, date, source).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

from core.catalog import text_column
from core.errors import ImportValidationError, RowError
from core.ingest import readers, schema
from core.ingest.validation import (IMPORT_LOCK, WRITE_BATCH, Errors, ImportReport, QueryTable, duplicate_errors,
                                    check_name, finish_validation, import_record, query_texts)
from core.ingest.schema import quote
from core.scale import COLUMN_SCALE, parse_scale
from core.store.labels import current_labels
from core.store.session import session_scope
from db.models import ImportRecord, Label, Product

log = logging.getLogger(__name__)


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
        self.errors, self.queries, self.total = Errors(), QueryTable(), 0
        self.keys: list[np.ndarray] = []
        self.key_rows: list[np.ndarray] = []
        self.col = None

    def chunk(self, chunk: pd.DataFrame, first_pass: bool = True) -> pd.DataFrame:
        """The valid rows of ``chunk`` (row, query_id, product_id, level, rater); records errors on the first pass."""
        errors = self.errors if first_pass else Errors()
        if self.col is None:
            self.col, self.lookup, self.scale_name = _level_column(self.path.name, chunk.columns, self.scale)
        valid = schema.check(chunk, "judgments", errors)
        texts, ok = query_texts(chunk, errors)
        ok &= valid
        pids = text_column(chunk, "product_id")
        no_pid = pids == ""
        errors.add(chunk.index[no_pid & valid], "product_id", "missing product_id")
        if self.product_ids is not None:
            unknown = valid & ~no_pid & ~pids.isin(self.product_ids)
            errors.add(chunk.index[unknown], "product_id",
                       lambda r: f"unknown product_id {quote(pids[r])} (import the products first)")
            ok &= ~unknown
        col, raw = self.col, text_column(chunk, self.col)
        levels = raw.map(self.lookup)
        bad_level = levels.isna() & valid
        allowed = ", ".join(sorted({k for k in self.lookup if "." not in k}))
        errors.add(chunk.index[bad_level], col,
                   lambda r: f"{quote(raw[r])} is not on the {self.scale_name} scale (expected one of {allowed})"
                   if raw[r] else f"missing {col}")
        ok &= ~no_pid & levels.notna()
        qids = (self.queries if first_pass else QueryTable()).add_chunk(chunk, texts, ok, errors)
        good = pd.DataFrame({"row": chunk.index, "query_id": qids, "product_id": pids,
                             "level": levels, "rater": text_column(chunk, "rater")})[ok]
        if first_pass:
            self.total += len(chunk)
            self.keys.append(pd.util.hash_pandas_object(good[["query_id", "product_id", "rater"]],
                                                        index=False).to_numpy())
            self.key_rows.append(good["row"].to_numpy())
        return good.astype({"level": "int8"})

    def finish(self, skip_bad_rows: bool) -> list[RowError]:
        duplicate_errors(self.keys, self.key_rows, self.errors, "judgment: query, product_id and rater repeat")
        self.keys = self.key_rows = []
        return finish_validation(self.path.name, self.errors, self.total, skip_bad_rows)


def read_judgments(path: str | Path, *, scale=None, product_ids: set[str] | None = None,
                   skip_bad_rows: bool = False) -> tuple[pd.DataFrame, QueryTable, list[RowError], int]:
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
    name = check_name(path.name, name or path.name.split(".")[0])
    source = f"import:{name}"
    with session_scope(url) as s:
        product_pk = dict(s.execute(select(Product.product_id, Product.id)).tuples().all())
    v = _JudgmentRows(path, scale, set(product_pk))
    for chunk in readers.iter_chunks(path):
        v.chunk(chunk)
    with session_scope(url) as s:
        v.queries.check_store(s, v.errors)
    skipped = v.finish(skip_bad_rows)
    bad, refused = {e.row for e in skipped}, v.queries.conflicts
    report = ImportReport("judgments", name, path.name, rows=v.total, skipped=skipped)
    now = datetime.now(timezone.utc)
    with session_scope(url, lock=IMPORT_LOCK) as s:
        qpk = v.queries.write(s, set(v.queries.by_id) - refused, path.name)
        current = current_labels(s, source)
        for chunk in readers.iter_chunks(path):
            rows = v.chunk(chunk, first_pass=False)
            if bad or refused:
                rows = rows[~rows["row"].isin(bad) & ~rows["query_id"].isin(refused)]
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
        s.add(ImportRecord(**import_record("judgments", name, path, v.total, report.inserted + report.updated)))
    log.info(report.summary())
    return report


def read_ratings(path: str | Path, scale=None) -> tuple[pd.DataFrame, tuple]:
    """Read a multi-rater labels file: query, product_id (or doc_id), rater, a level column.

    The level column is ``level`` (1–5), ``esci_label`` or ``grade`` with ``scale`` (DESIGN.md, input
    files); an optional ``seconds`` column is kept. Validation is the judgments import's (``core.ingest.readers``
    and ``core.scale``): every bad row is listed and nothing is returned when any row is bad; a missing
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
