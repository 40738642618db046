"""``relevance init``: create or migrate the store and, when it is empty, import the bundled demo data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select

from core import config
from core.imports import ImportReport, import_judgments, import_products, import_queries
from db.migrate import upgrade
from db.models import Product
from db.session import session_scope

log = logging.getLogger(__name__)
DEMO_NAME = "esci_us"


@dataclass
class InitReport:
    url: str
    imported: list[ImportReport] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"database ready: {self.url}"]
        lines += [f"  {r.summary()}" for r in self.imported]
        for r in self.imported:
            lines += [f"    skipped {e}" for e in r.skipped]
        if not self.imported:
            lines.append("  (no demo import: the database already has products or RELEVANCE_DEMO=0)")
        return "\n".join(lines)


def init(url: str | None = None, *, demo: bool | None = None) -> InitReport:
    """Migrate to the latest schema; import ``data/esci_us`` into an empty store (idempotent)."""
    url = url or config.db_url()
    upgrade(url)
    report = InitReport(url)
    demo = config.get("demo") not in ("0", "false", "no") if demo is None else demo
    with session_scope(url) as s:
        empty = s.execute(select(func.count(Product.id))).scalar_one() == 0
    if demo and empty:
        folder = config.path("data_dir") / DEMO_NAME
        report.imported.append(import_products(folder / "products.jsonl.gz", name=DEMO_NAME, url=url))
        report.imported.append(import_judgments(folder / "judgments.csv", name=DEMO_NAME, url=url))
        # The demo query log has one empty query; the demo skips it (reported) rather than refusing the file.
        report.imported.append(import_queries(folder / "query_log.csv", name=DEMO_NAME, url=url, skip_bad_rows=True))
    return report
