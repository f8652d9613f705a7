"""webhooks: webhook_deliveries (raw deliveries kept before the 2xx, processed by jobs)

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import core.store.types

revision = '0003'
down_revision = '0001'
branch_labels = ('webhooks',)
depends_on = None


def upgrade() -> None:
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('topic', sa.String(length=100), nullable=False),
    sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('result', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('received_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('processed_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_webhook_deliveries_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_state_received', 'webhook_deliveries', ['state', 'received_at'], unique=False)
    op.create_index('ix_webhook_deliveries_tenant_state', 'webhook_deliveries', ['tenant_id', 'state', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_tenant_state', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_state_received', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
