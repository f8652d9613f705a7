"""segments: contact_metrics.predicted_orders and predicted_value (the forecast of the next 365 days)

Revision ID: 0007_predicted_value
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.store.types

revision = "0007_predicted_value"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Filled by the next full refresh: the stored models predate the forecast, so they are refitted.
    with op.batch_alter_table("contact_metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("predicted_orders", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("predicted_value", core.store.types.Money(precision=18, scale=4), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_metrics", schema=None) as batch_op:
        batch_op.drop_column("predicted_value")
        batch_op.drop_column("predicted_orders")
