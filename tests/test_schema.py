"""The Alembic migrations create exactly the tables the code declares."""

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.segments.store.schema import contact_metrics, segment_members
from core.store.db import alembic_config, make_engine
from core.store.registry import all_metadata
from core.store.schema import (
    cart_items,
    carts,
    consents,
    contact_identities,
    contacts,
    order_items,
    orders,
    tenants,
)
from tests.conftest import NOW

#: Migration 0016's tables.
TABLES = ("contact_identities", "consents", "order_items", "cart_items", "contact_metrics", "segment_members")


def test_migrations_match_the_declared_tables(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), all_metadata())
    assert diff == []


#: Tables of the install, not of a tenant: the tenants, and the console's sessions (a user's, whatever the tenant).
INSTALL_TABLES = {"tenants", "console_sessions"}


def test_every_table_but_tenants_is_scoped_by_tenant():
    unscoped = [t.name for t in all_metadata().sorted_tables if t.name not in INSTALL_TABLES and "tenant_id" not in t.c]
    assert unscoped == []


def test_rows_that_go_with_their_parent_keep_their_rows_and_lose_only_the_tenant_check(fresh_url):
    """0016: identities, consents, items, metrics and memberships lose their foreign key to ``tenants``; their
    rows stay, and they still go with their contact, order or cart."""
    engine = make_engine(fresh_url)
    config = alembic_config(engine)
    command.upgrade(config, "heads")
    command.downgrade(config, "0008_lifecycle")
    tables = {name: all_metadata().tables[name] for name in TABLES}

    def tenant_keys() -> set[str]:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                name
                for name in TABLES
                if any(fk["referred_table"] == "tenants" for fk in inspector.get_foreign_keys(name))
            }

    assert tenant_keys() == set(TABLES)
    with engine.begin() as conn:
        tenant_id = conn.execute(
            tenants.insert()
            .values(name="t", platform="woocommerce", url="https://t.example.com", config={}, created_at=NOW,
                    updated_at=NOW)
            .returning(tenants.c.id)
        ).scalar_one()  # fmt: skip
        rows = _one_of_each(conn, tenant_id)
    command.upgrade(config, "heads")
    assert tenant_keys() == set()
    with engine.begin() as conn:
        assert {
            name: conn.execute(sa.select(sa.func.count()).select_from(tables[name])).scalar() for name in TABLES
        } == {name: 1 for name in TABLES}
        conn.execute(contacts.delete().where(contacts.c.id == rows["contact"]))
        conn.execute(orders.delete().where(orders.c.id == rows["order"]))
        conn.execute(carts.delete().where(carts.c.id == rows["cart"]))
        left = {name: conn.execute(sa.select(sa.func.count()).select_from(tables[name])).scalar() for name in TABLES}
    assert left == {name: 0 for name in TABLES}
    engine.dispose()


def _one_of_each(conn: sa.Connection, tenant_id: int) -> dict[str, int]:
    """A contact, an order and a cart of the tenant, with a row of each child table."""
    contact = conn.execute(
        contacts.insert()
        .values(tenant_id=tenant_id, email="a@example.com", attributes={}, created_at=NOW, updated_at=NOW)
        .returning(contacts.c.id)
    ).scalar_one()
    common = {"tenant_id": tenant_id, "created_at": NOW, "updated_at": NOW, "source": "woocommerce"}
    order = conn.execute(
        orders.insert()
        .values(**common, external_id="1", contact_id=contact, status="paid", currency="EUR", total=10, ingested_at=NOW)
        .returning(orders.c.id)
    ).scalar_one()
    cart = conn.execute(
        carts.insert().values(**common, external_id="c1", contact_id=contact, total=10, item_count=1)
        .returning(carts.c.id)
    ).scalar_one()  # fmt: skip
    item = {"tenant_id": tenant_id, "position": 0, "name": "Thing", "quantity": 1, "unit_price": 10, "categories": []}
    conn.execute(order_items.insert().values(**item, order_id=order))
    conn.execute(cart_items.insert().values(**item, cart_id=cart))
    conn.execute(
        contact_identities.insert().values(
            tenant_id=tenant_id, kind="email", value="a@example.com", contact_id=contact, created_at=NOW
        )
    )
    conn.execute(
        consents.insert().values(
            tenant_id=tenant_id, contact_id=contact, channel="email", granted=True, at=NOW, source="test"
        )
    )
    conn.execute(
        contact_metrics.insert().values(
            tenant_id=tenant_id, contact_id=contact, orders_count=1, total_spent=10, updated_at=NOW
        )
    )
    conn.execute(segment_members.insert().values(tenant_id=tenant_id, segment="s", contact_id=contact, entered_at=NOW))
    return {"contact": contact, "order": order, "cart": cart}
