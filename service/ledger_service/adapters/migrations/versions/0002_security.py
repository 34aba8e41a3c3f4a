"""security: secrets, rate limits, nonces, closing audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 11:42:50.583333
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seen_nonces',
    sa.Column('nonce_digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce_digest')
    )
    with op.batch_alter_table('seen_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_seen_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('rate_buckets',
    sa.Column('client_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('milli_tokens', sa.BigInteger(), nullable=False),
    sa.Column('refilled_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], ),
    sa.PrimaryKeyConstraint('client_id')
    )
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('closed_request_id', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key('accounts_closed_by_fkey', 'clients', ['closed_by'], ['id'])

    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('secret_ciphertext', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('rate_per_minute', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('burst', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('burst')
        batch_op.drop_column('rate_per_minute')
        batch_op.drop_column('secret_ciphertext')

    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_constraint('accounts_closed_by_fkey', type_='foreignkey')
        batch_op.drop_column('closed_request_id')
        batch_op.drop_column('closed_by')

    op.drop_table('rate_buckets')
    with op.batch_alter_table('seen_nonces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_seen_nonces_expires_at'))

    op.drop_table('seen_nonces')
