"""entry_metadata: an entry's own key/value dimensions, history like its lines

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 19:40:00.000000
"""
from alembic import op
import sqlalchemy as sa

from ledger_service.adapters.history_guard import guard_statements


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('entry_metadata',
    sa.Column('entry_id', _ID, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=256), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], ),
    sa.PrimaryKeyConstraint('entry_id', 'key')
    )
    for statement in guard_statements(op.get_bind().dialect.name, ("entry_metadata",)):
        op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers; the function other history tables' triggers call stays.
    op.drop_table('entry_metadata')
