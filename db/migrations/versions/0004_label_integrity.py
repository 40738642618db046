"""label integrity: a label chain never forks, an import never holds two live labels of one pair

Revision ID: 0004_label_integrity
Revises: 0003_accounts
Create Date: 2026-11-29 15:00:00

Two unique indexes make the races of issue 15 impossible rather than unlikely:

- ``uq_labels_supersedes`` / ``uq_comparisons_supersedes``: a label (or side-by-side answer) is superseded
  at most once, so two writers correcting or undoing the same label cannot both succeed;
- ``uq_labels_import_root``: among labels without a task (imports), one chain per (query, product, source,
  rater): two imports of the same file cannot both append a first label for a pair.

A store that already breaks them (left by the old race) is refused with the count and a query that lists
the rows, instead of being changed silently: labels are append-only and only a person can say which copy
to keep.
"""
from alembic import op
import sqlalchemy as sa

from db.migrate import MigrationRefused


revision = '0004_label_integrity'
down_revision = '0003_accounts'
branch_labels = None
depends_on = None

ROOT_WHERE = "supersedes_id IS NULL AND task_id IS NULL"
CHECKS = {
    "a label superseded twice": "SELECT supersedes_id FROM labels WHERE supersedes_id IS NOT NULL "
                                "GROUP BY supersedes_id HAVING COUNT(*) > 1",
    "a side-by-side answer superseded twice": "SELECT supersedes_id FROM comparisons WHERE supersedes_id IS NOT NULL "
                                              "GROUP BY supersedes_id HAVING COUNT(*) > 1",
    "an imported pair with two first labels": "SELECT query_pk, product_pk, source, COALESCE(rater, '') FROM labels "
                                              f"WHERE {ROOT_WHERE} GROUP BY 1, 2, 3, 4 HAVING COUNT(*) > 1",
}


def upgrade() -> None:
    conn = op.get_bind()
    for what, query in CHECKS.items():
        n = conn.execute(sa.text(f"SELECT COUNT(*) FROM ({query}) AS dup")).scalar_one()
        if n:
            raise MigrationRefused(f"this store holds {n} cases of {what} (left by an earlier concurrent import or undo); "
                               f"list them with: {query}; keep one row of each (restore a backup or ask for help) "
                               f"and run `relevance init` again")
    op.create_index("uq_labels_supersedes", "labels", ["supersedes_id"], unique=True)
    op.create_index("uq_comparisons_supersedes", "comparisons", ["supersedes_id"], unique=True)
    op.create_index("uq_labels_import_root", "labels",
                    ["query_pk", "product_pk", "source", sa.text("COALESCE(rater, '')")], unique=True,
                    sqlite_where=sa.text(ROOT_WHERE), postgresql_where=sa.text(ROOT_WHERE))


def downgrade() -> None:
    op.drop_index("uq_labels_import_root", table_name="labels")
    op.drop_index("uq_comparisons_supersedes", table_name="comparisons")
    op.drop_index("uq_labels_supersedes", table_name="labels")
