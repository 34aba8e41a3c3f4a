"""reversals: entries.reversal_of_id, unique

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 12:15:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reversal_of_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_unique_constraint('entries_reversal_of_id_key', ['reversal_of_id'])
        batch_op.create_foreign_key('entries_reversal_of_id_fkey', 'entries', ['reversal_of_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('entries', schema=None) as batch_op:
        batch_op.drop_constraint('entries_reversal_of_id_fkey', type_='foreignkey')
        batch_op.drop_constraint('entries_reversal_of_id_key', type_='unique')
        batch_op.drop_column('reversal_of_id')
