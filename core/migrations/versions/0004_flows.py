"""flows: flow_runs (durable runs with their next due time), flow_intervals (learned repurchase intervals)

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sqlalchemy.dialects import postgresql

import core.store.types

revision = "0004"
down_revision = "0001"
branch_labels = ("flows",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=60), nullable=False),
        sa.Column("contact_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("trigger_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_at", core.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("step_due_at", core.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("trigger_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "context", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("claimed_until", core.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", core.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_flow_runs_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_flow_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_runs")),
        sa.UniqueConstraint("tenant_id", "flow", "trigger_key", name="uq_flow_runs_tenant_flow_key"),
    )
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.create_index("ix_flow_runs_contact", ["tenant_id", "contact_id", "flow", "state"], unique=False)
        batch_op.create_index("ix_flow_runs_state_due", ["state", "due_at"], unique=False)

    op.create_table(
        "flow_intervals",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=200), nullable=False),
        sa.Column("days", sa.Float(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("computed_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_flow_intervals_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "product_id", name=op.f("pk_flow_intervals")),
    )


def downgrade() -> None:
    op.drop_table("flow_intervals")
    with op.batch_alter_table("flow_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_flow_runs_state_due")
        batch_op.drop_index("ix_flow_runs_contact")

    op.drop_table("flow_runs")
