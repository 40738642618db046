"""accounts: case-insensitive unique user names, a session version, the time of a password reset

Revision ID: 0003_accounts
Revises: 0002
Create Date: 2026-12-02 10:00:00

``users.name_key`` is the name case-folded, unique. A store that already holds names differing only in
case (``Rater4`` and ``rater4``) keeps both: the older one gets the plain key, each later one the key
``<name>#<id>`` (``#`` is not allowed in new names), so it still signs in by its exact name.
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_accounts'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_key', sa.String(length=140), nullable=True))
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('password_reset_at', sa.DateTime(timezone=True), nullable=True))

    conn = op.get_bind()
    users = sa.table('users', sa.column('id', sa.Integer), sa.column('name', sa.String),
                     sa.column('name_key', sa.String), sa.column('created_at', sa.DateTime))
    taken: set[str] = set()
    for uid, name in conn.execute(sa.select(users.c.id, users.c.name).order_by(users.c.created_at, users.c.id)):
        key = name.strip().casefold()
        if key in taken:
            key = f"{key}#{uid}"
        taken.add(key)
        conn.execute(users.update().where(users.c.id == uid).values(name_key=key))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('name_key', existing_type=sa.String(length=140), nullable=False)
        batch_op.create_index('uq_users_name_key', ['name_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('uq_users_name_key')
        batch_op.drop_column('password_reset_at')
        batch_op.drop_column('session_version')
        batch_op.drop_column('name_key')
