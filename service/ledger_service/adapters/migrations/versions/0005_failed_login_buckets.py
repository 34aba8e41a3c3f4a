"""failed_login_buckets: the budget of failed authentications per username and per source address

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 09:55:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('failed_login_buckets',
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('milli_tokens', sa.BigInteger(), nullable=False),
    sa.Column('refilled_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject')
    )
    with op.batch_alter_table('failed_login_buckets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_failed_login_buckets_refilled_at'), ['refilled_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('failed_login_buckets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_failed_login_buckets_refilled_at'))

    op.drop_table('failed_login_buckets')
