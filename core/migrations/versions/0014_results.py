"""results: order_attributions; messages.campaign and messages.variant

Revision ID: 0014_results
Revises: 0008_lifecycle
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.types

revision = "0014_results"
down_revision = "0008_lifecycle"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("variant", sa.String(length=40), nullable=True))

    op.create_table(
        "order_attributions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("message_id", _ID, nullable=False),
        sa.Column("flow", sa.String(length=60), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=60), nullable=True),
        sa.Column("variant", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("touched_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", core.store.types.Money(precision=18, scale=4), nullable=False),
        sa.Column("computed_at", core.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_order_attributions_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_attributions_order_id_orders"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_order_attributions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_attributions")),
        sa.UniqueConstraint("tenant_id", "order_id", name="uq_order_attributions_tenant_order"),
    )
    with op.batch_alter_table("order_attributions", schema=None) as batch_op:
        batch_op.create_index("ix_order_attributions_tenant_time", ["tenant_id", "order_at"], unique=False)
        batch_op.create_index("ix_order_attributions_message", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("order_attributions", schema=None) as batch_op:
        batch_op.drop_index("ix_order_attributions_message")
        batch_op.drop_index("ix_order_attributions_tenant_time")
    op.drop_table("order_attributions")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("variant")
        batch_op.drop_column("campaign")
