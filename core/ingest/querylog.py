"""Query-log imports (CSV with query and optional count, date); rows keyed by (query, date, source)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.catalog import text_column
from core.ingest import readers, schema
from core.ingest.schema import INT32_MAX, quote
from core.ingest.validation import (IMPORT_LOCK, Errors, check_name, ImportReport, QueryTable, duplicate_errors, finish_validation,
                                    import_record, query_texts)
from core.store.session import session_scope
from db.models import ImportRecord, Query, QueryLogEntry

log = logging.getLogger(__name__)


def import_queries(path: str | Path, *, name: str | None = None, url: str | None = None,
                   skip_bad_rows: bool = False) -> ImportReport:
    """Import a query log (CSV: ``query``, optional ``count``, ``date``, ``language``, ``query_id``).

    Each (query, date) row is kept once per source; a query's ``count`` is the sum over its log rows.
    """
    path = Path(path)
    name = check_name(path.name, name or path.name.split(".")[0])
    source = f"import:{name}"
    errors, queries, total, parts, keys, key_rows = Errors(), QueryTable(), 0, [], [], []
    for chunk in readers.iter_chunks(path):
        if total == 0:
            readers.require_columns(path.name, chunk.columns, ["query"])
        total += len(chunk)
        valid = schema.check(chunk, "queries", errors)
        texts, ok = query_texts(chunk, errors)
        raw = text_column(chunk, "count")
        counts = pd.to_numeric(raw.where(raw != "", "1"), errors="coerce")
        bad = valid & (counts.isna() | (counts < 0) | (counts != counts.round()))
        errors.add(chunk.index[bad], "count", lambda r: f"{quote(raw[r])} is not a whole number ≥ 0")
        ok &= valid & ~bad
        qids = queries.add_chunk(chunk, texts, ok, errors)
        good = pd.DataFrame({"row": chunk.index, "query_id": qids, "date": text_column(chunk, "date"),
                             "count": counts, "raw": chunk["query"].astype(str)})[ok]
        # The same raw text twice on one date is an error; variants that differ only in case or spacing
        # ("soundbar" and "soundbar ") are one query, and their counts add up.
        keys.append(pd.util.hash_pandas_object(good[["raw", "date"]], index=False).to_numpy())
        key_rows.append(good["row"].to_numpy())
        parts.append(good)
    duplicate_errors(keys, key_rows, errors, "query-log row: the same query text and date")
    with session_scope(url) as s:
        queries.check_store(s, errors)
    skipped = finish_validation(path.name, errors, total, skip_bad_rows)
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[~rows["row"].isin({e.row for e in skipped}) & ~rows["query_id"].isin(queries.conflicts)]
    rows = rows.groupby(["query_id", "date"], as_index=False, sort=False)["count"].sum()
    report = ImportReport("queries", name, path.name, rows=total, skipped=skipped)
    with session_scope(url, lock=IMPORT_LOCK) as s:
        qpk = queries.write(s, set(rows["query_id"]), path.name)
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
        # a query's count is the sum over its log rows; it saturates at what the column holds
        s.execute(update(Query), [dict(id=q, count=min(totals.get(q, 0), INT32_MAX)) for q in touched])
        report.inserted, report.updated = len(fresh), len(changed)
        report.unchanged = len(merged) - len(fresh) - len(changed)
        s.add(ImportRecord(**import_record("queries", name, path, total, len(fresh) + len(changed))))
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
