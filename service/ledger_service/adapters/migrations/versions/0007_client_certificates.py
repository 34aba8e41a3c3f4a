"""client_certificates: each client's X.509 certificate, for mutual TLS and signed requests; and
clients.require_signature

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15 10:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('client_certificates',
    sa.Column('client_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('der', sa.LargeBinary(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('issuer', sa.Text(), nullable=False),
    sa.Column('issuer_der', sa.LargeBinary(), nullable=False),
    sa.Column('serial_number', sa.String(length=50), nullable=False),
    sa.Column('subject_key_identifier', sa.LargeBinary(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('not_after', sa.DateTime(timezone=True), nullable=False),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['clients.id'], ),
    sa.PrimaryKeyConstraint('client_id'),
    sa.UniqueConstraint('serial_number', 'issuer_der'),
    sa.UniqueConstraint('sha256'),
    sa.UniqueConstraint('subject_key_identifier')
    )
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_signature', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('clients', schema=None) as batch_op:
        batch_op.drop_column('require_signature')

    op.drop_table('client_certificates')
