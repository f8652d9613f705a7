"""connectors: sync_locks (sync lease and schedule per tenant)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.types

revision = '0002'
down_revision = '0001'
branch_labels = ('connectors',)
depends_on = None


def upgrade() -> None:
    op.create_table('sync_locks',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=100), nullable=True),
    sa.Column('expires_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('enqueued_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('started_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_sync_locks_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_sync_locks'))
    )


def downgrade() -> None:
    op.drop_table('sync_locks')
