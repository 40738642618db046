"""flags and query notes: a rater flags a task (reason, comment), a researcher resolves it; notes on what a query means

Revision ID: 0005_flags_notes
Revises: 0004_label_integrity
Create Date: 2026-11-29 15:20:00

Additive only: two new tables. ``flags`` rows are append-only except their resolution (``resolved_at``,
``resolved_by``, ``resolution``), filled once; ``query_notes`` is append-only, the latest row per query in force.
"""
from alembic import op
import sqlalchemy as sa


revision = '0005_flags_notes'
down_revision = '0004_label_integrity'
branch_labels = None
depends_on = None

REASONS = "'broken_image','ambiguous_query','foreign_language','unsure','other'"


def upgrade() -> None:
    op.create_table(
        'flags',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('query_pk', sa.Integer(), nullable=False),
        sa.Column('product_pk', sa.Integer(), nullable=True),
        sa.Column('rater', sa.String(length=128), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('resolved_by', sa.String(length=128), nullable=True),
        sa.Column('resolution', sa.Text(), nullable=True),
        sa.CheckConstraint(f"reason IN ({REASONS})", name='ck_flags_reason'),
        sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['query_pk'], ['queries.id']),
        sa.ForeignKeyConstraint(['product_pk'], ['products.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_flags_pair', 'flags', ['query_pk', 'product_pk'], unique=False)
    op.create_index('ix_flags_open', 'flags', ['resolved_at'], unique=False)
    op.create_index('ix_flags_task', 'flags', ['task_id'], unique=False)
    op.create_table(
        'query_notes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('query_pk', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('author', sa.String(length=128), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['query_pk'], ['queries.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_query_notes_query', 'query_notes', ['query_pk', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_query_notes_query', table_name='query_notes')
    op.drop_table('query_notes')
    op.drop_index('ix_flags_task', table_name='flags')
    op.drop_index('ix_flags_open', table_name='flags')
    op.drop_index('ix_flags_pair', table_name='flags')
    op.drop_table('flags')
