"""campaigns: assignment notes, comparison undo, indexes for task assignment

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 04:06:27.696313

Additive only: new nullable columns (or with a server default), new indexes and one foreign key.
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.Text(), nullable=True))

    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('supersedes_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retracted', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index('ix_comparisons_task', ['task_id'], unique=False)
        batch_op.create_foreign_key('fk_comparisons_supersedes_id', 'comparisons', ['supersedes_id'], ['id'])

    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.create_index('ix_labels_task', ['task_id'], unique=False)

    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.create_index('ix_tasks_campaign_position', ['campaign_id', 'position'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_campaign_position')

    with op.batch_alter_table('labels', schema=None) as batch_op:
        batch_op.drop_index('ix_labels_task')

    with op.batch_alter_table('comparisons', schema=None) as batch_op:
        batch_op.drop_constraint('fk_comparisons_supersedes_id', type_='foreignkey')
        batch_op.drop_index('ix_comparisons_task')
        batch_op.drop_column('retracted')
        batch_op.drop_column('supersedes_id')

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('note')
