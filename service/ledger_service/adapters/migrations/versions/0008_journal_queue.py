"""the journal's queue: on PostgreSQL a change's records wait there, written without a lock, until
they are sealed onto the book's chain

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 17:10:00.000000
"""
from alembic import op
import sqlalchemy as sa

from ledger_service.adapters.stores.journal import SqlJournalStore


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('journal_queue',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('book_id', _ID, nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('before_sequence', sa.Text(), nullable=False),
    sa.Column('after_sequence', sa.Text(), nullable=False),
    sa.Column('entry_id', _ID, nullable=True),
    sa.Column('account_id', _ID, nullable=True),
    sa.Column('period_close_id', _ID, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    # What is queued is sealed first: the release before this one seals every record in its change.
    journal = SqlJournalStore(op.get_bind())
    for book_id in journal.books_with_queued_records():
        while journal.seal_queued(book_id, 5000):
            pass
    op.drop_table('journal_queue')
