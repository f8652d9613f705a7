"""segments: segment_members, segment_states, contact_metrics, segment_models

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import core.store.types

revision = '0005'
down_revision = '0001'
branch_labels = ('segments',)
depends_on = None


def upgrade() -> None:
    op.create_table('segment_members',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('entered_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_segment_members_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_segment_members_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'segment', 'contact_id', name=op.f('pk_segment_members'))
    )
    with op.batch_alter_table('segment_members', schema=None) as batch_op:
        batch_op.create_index('ix_segment_members_contact', ['tenant_id', 'contact_id'], unique=False)

    op.create_table('segment_states',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=100), nullable=False),
    sa.Column('definition', sa.String(length=64), nullable=False),
    sa.Column('refreshed_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_segment_states_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'segment', name=op.f('pk_segment_states'))
    )
    op.create_table('contact_metrics',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('orders_count', sa.Integer(), nullable=False),
    sa.Column('total_spent', core.store.types.Money(precision=18, scale=4), nullable=False),
    sa.Column('first_order_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_order_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rfm_r', sa.SmallInteger(), nullable=True),
    sa.Column('rfm_f', sa.SmallInteger(), nullable=True),
    sa.Column('rfm_m', sa.SmallInteger(), nullable=True),
    sa.Column('order_interval_days', sa.Float(), nullable=True),
    sa.Column('expected_next_order_at', core.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('p_active', sa.Float(), nullable=True),
    sa.Column('score_log2', sa.Float(), nullable=True),
    sa.Column('updated_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_contact_metrics_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contact_metrics_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', 'contact_id', name=op.f('pk_contact_metrics'))
    )
    with op.batch_alter_table('contact_metrics', schema=None) as batch_op:
        batch_op.create_index('ix_contact_metrics_contact', ['contact_id'], unique=False)

    op.create_table('segment_models',
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('computed_at', core.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_segment_models_tenant_id_tenants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('tenant_id', name=op.f('pk_segment_models'))
    )


def downgrade() -> None:
    op.drop_table('segment_models')
    with op.batch_alter_table('contact_metrics', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_metrics_contact')

    op.drop_table('contact_metrics')
    op.drop_table('segment_states')
    with op.batch_alter_table('segment_members', schema=None) as batch_op:
        batch_op.drop_index('ix_segment_members_contact')

    op.drop_table('segment_members')
