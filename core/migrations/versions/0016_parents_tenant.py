"""parents' tenant: rows that go with a parent of the same tenant lose their own foreign key to tenants

Revision ID: 0016_parents_tenant
Revises: 0008_lifecycle
Create Date: 2026-12-04

Items, identities, consents, metrics and memberships are deleted with their order, cart or contact (its
foreign key cascades), which is of the same tenant: their ``tenant_id`` needs no check of its own against
``tenants`` (one lookup fewer for every such row written; see ``core.store.schema._parents_tenant``).
"""

from __future__ import annotations

from alembic import op

revision = "0016_parents_tenant"
down_revision = "0008_lifecycle"
branch_labels = None
depends_on = None

TABLES = ("contact_identities", "consents", "order_items", "cart_items", "contact_metrics", "segment_members")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_tenant_id_tenants", type_="foreignkey")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_tenant_id_tenants", "tenants", ["tenant_id"], ["id"], ondelete="CASCADE"
            )
