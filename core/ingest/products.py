"""Product imports (JSONL, CSV or Parquet; validated, all or nothing; re-imports leave absent fields alone)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select, update

from core.catalog import text_column
from core.ingest import readers, schema
from core.ingest.schema import quote
from core.ingest.validation import (IMPORT_LOCK, LANG_RE, WRITE_BATCH, Errors, ImportReport, check_name,
                                    finish_validation, import_record, number_value, text_value)
from core.store.session import session_scope
from db.models import ImportRecord, Product

log = logging.getLogger(__name__)

PRODUCT_TEXT_FIELDS = ("title", "description", "bullet_points", "brand", "color", "category", "image",
                       "caption", "top_queries", "language")
PRODUCT_NUMBER_FIELDS = {c.name: int if c.kind == "integer" else float
                         for c in schema.SCHEMAS["products"] if c.kind in ("number", "integer")}
PRODUCT_FIELDS = PRODUCT_TEXT_FIELDS + tuple(PRODUCT_NUMBER_FIELDS)


def import_products(path: str | Path, *, name: str | None = None, url: str | None = None,
                    skip_bad_rows: bool = False) -> ImportReport:
    """Import a product catalog (JSONL(.gz), CSV or Parquet); see DESIGN.md "Core objects"."""
    path = Path(path)
    name = check_name(path.name, name or path.name.split(".")[0])
    errors, seen, products, total = Errors(), {}, {}, 0
    present: set[str] = set()  # fields the file has: a re-import leaves the others as they are
    for chunk in readers.iter_chunks(path):
        if total == 0:
            readers.require_columns(path.name, chunk.columns, ["product_id", "title"])
        present.update(f for f in PRODUCT_FIELDS if f in chunk.columns)
        total += len(chunk)
        pids = text_column(chunk, "product_id")
        valid = schema.check(chunk, "products", errors)
        for row, rec in zip(chunk.index, chunk.to_dict("records")):
            pid = pids[row]
            if not valid[row]:
                continue  # its values broke the schema; the errors name them
            if not pid:
                errors.add([row], "product_id", "missing product_id")
                continue
            if pid in seen:
                errors.add([row], "product_id", f"duplicate product_id {quote(pid)} (first on row {seen[pid]})")
                continue
            seen[pid] = row
            values = {f: text_value(rec.get(f)) for f in PRODUCT_TEXT_FIELDS}
            if not values["title"]:
                errors.add([row], "title", "missing title")
            if values["language"] and not pd.Series([values["language"]]).str.match(LANG_RE).iloc[0]:
                errors.add([row], "language", f"{quote(values['language'])} is not an ISO 639-1 code such as 'en'")
            for f, kind in PRODUCT_NUMBER_FIELDS.items():
                values[f] = number_value(rec.get(f), kind)
            products[pid] = values
    skipped = finish_validation(path.name, errors, total, skip_bad_rows)
    bad = {e.row for e in skipped}
    report = ImportReport("products", name, path.name, rows=total, skipped=skipped)
    with session_scope(url, lock=IMPORT_LOCK) as s:
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
        s.add(ImportRecord(**import_record("products", name, path, total, len(new) + len(changed))))
    log.info(report.summary())
    return report
