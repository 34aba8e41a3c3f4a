"""the journal: hash-chained records of every change to a book, chains for the books that exist, and
triggers that refuse UPDATE and DELETE of history rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 14:40:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa

from ledger_service.adapters.history_guard import guard_statements, unguard_statements
from ledger_service.adapters.stores.journal import chain_existing_history


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# The history tables of this revision's schema (later ones guard their own).
_GUARDED = ("entries", "lines", "pending_lines", "pending_outcomes", "period_closes", "journal_records")
_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('journal_records',
    sa.Column('book_id', _ID, nullable=False),
    sa.Column('sequence', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('account_id', _ID, nullable=True),
    sa.Column('period_close_id', _ID, nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ),
    sa.ForeignKeyConstraint(['book_id'], ['books.id'], ),
    sa.ForeignKeyConstraint(['entry_id'], ['entries.id'], ),
    sa.ForeignKeyConstraint(['period_close_id'], ['period_closes.id'], ),
    sa.PrimaryKeyConstraint('book_id', 'sequence')
    )
    with op.batch_alter_table('journal_records', schema=None) as batch_op:
        batch_op.create_index('journal_records_by_entry', ['entry_id', 'kind'], unique=False)

    op.create_table('journal_heads',
    sa.Column('book_id', _ID, nullable=False),
    sa.Column('sequence', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['book_id'], ['books.id'], ),
    sa.PrimaryKeyConstraint('book_id')
    )

    connection = op.get_bind()
    chain_existing_history(connection, datetime.now(timezone.utc))
    for statement in guard_statements(connection.dialect.name, _GUARDED):
        op.execute(statement)


def downgrade() -> None:
    connection = op.get_bind()
    for statement in unguard_statements(connection.dialect.name, _GUARDED):
        op.execute(statement)
    op.drop_table('journal_heads')
    with op.batch_alter_table('journal_records', schema=None) as batch_op:
        batch_op.drop_index('journal_records_by_entry')
    op.drop_table('journal_records')
