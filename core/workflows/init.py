"""``relevance init``: create or migrate the store and, when it is empty, import the bundled demo data."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core import config
from core.ingest import ImportReport, import_judgments, import_products, import_queries
from core.store.datasets import import_status
from core.store.session import shown_url, upgrade

log = logging.getLogger(__name__)
DEMO_NAME = "esci_us"
# The bundled data sets, each imported under its own name (labels get source ``import:<name>``):
# esci_us (120 English queries, ~45 judged products each: listwise) and esci_multilingual (2,127 pairs
# over 2,084 en/es/ja queries with products in their own language: pointwise).
DEMO_SETS = (DEMO_NAME, "esci_multilingual")


@dataclass
class InitReport:
    url: str
    imported: list[ImportReport] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"database ready: {shown_url(self.url)}"]  # never the password
        lines += [f"  {r.summary()}" for r in self.imported]
        for r in self.imported:
            lines += [f"    skipped {e}" for e in r.skipped]
        if not self.imported:
            lines.append("  (no demo import: the database already has products or RELEVANCE_DEMO=0)")
        return "\n".join(lines)


def init(url: str | None = None, *, demo: bool | None = None) -> InitReport:
    """Migrate to the latest schema; import the bundled data sets (``DEMO_SETS``) into an empty store, or
    the ones a demo store still lacks (idempotent: a set is imported once, recorded by its name)."""
    url = url or config.db_url()
    upgrade(url)
    report = InitReport(url)
    demo = config.get("demo") not in ("0", "false", "no") if demo is None else demo
    empty, done = import_status(url)
    if not demo or not (empty or DEMO_NAME in done):  # never add demo data to a store of one's own
        return report
    for name in DEMO_SETS:
        folder = config.path("data_dir") / name
        if name in done or not (folder / "judgments.csv").exists():
            continue
        report.imported.append(import_products(folder / "products.jsonl.gz", name=name, url=url))
        # the judgments' language column (when the file has one) overrides detection
        report.imported.append(import_judgments(folder / "judgments.csv", name=name, url=url))
        if (folder / "query_log.csv").exists():
            # The demo query log has one empty query; the demo skips it (reported) rather than refusing the file.
            report.imported.append(import_queries(folder / "query_log.csv", name=name, url=url, skip_bad_rows=True))
    if report.imported:  # build the demo catalog's BM25 index now (cached on disk), not on the first dashboard
        from core.cache import get_scorer
        get_scorer("bm25", url)
    return report
