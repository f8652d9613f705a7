"""What the store holds of one record, read back by its shop id: a contact's identities, an order with its
lines, a product.

Processing a received deletion or restoration (``inbound.woocommerce``)
rebuilds an event from the snapshot the store holds; every query is scoped by
tenant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from core.store.schema import contact_identities, contacts, order_items, orders, products


def contact_email(conn: Connection, tenant_id: int, contact_id: int) -> str | None:
    """The contact's email, or None."""
    return conn.execute(
        select(contacts.c.email).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).scalar()


def identities_by_kind(conn: Connection, tenant_id: int, contact_id: int) -> dict[str, str]:
    """The contact's identities, kind -> value (one per kind)."""
    rows = conn.execute(
        select(contact_identities.c.kind, contact_identities.c.value).where(
            contact_identities.c.tenant_id == tenant_id, contact_identities.c.contact_id == contact_id
        )
    ).all()
    return {row.kind: row.value for row in rows}


def contact_with_identity(conn: Connection, tenant_id: int, kind: str, value: str) -> int | None:
    """The id of the contact known by (kind, value), or None."""
    return conn.execute(
        select(contact_identities.c.contact_id).where(
            contact_identities.c.tenant_id == tenant_id,
            contact_identities.c.kind == kind,
            contact_identities.c.value == value,
        )
    ).scalar()


def stored_order(conn: Connection, tenant_id: int, source: str, external_id: str) -> Any:
    """The stored order the shop ``source`` knows as ``external_id``, or None."""
    return conn.execute(
        select(orders).where(
            orders.c.tenant_id == tenant_id, orders.c.source == source, orders.c.external_id == external_id
        )
    ).first()


def order_lines(conn: Connection, tenant_id: int, order_id: int) -> list[Any]:
    """The lines of a stored order (by the store's id), in order."""
    return list(
        conn.execute(
            select(order_items)
            .where(order_items.c.tenant_id == tenant_id, order_items.c.order_id == order_id)
            .order_by(order_items.c.position)
        ).all()
    )


def stored_product(conn: Connection, tenant_id: int, source: str, external_id: str) -> Any:
    """The stored product the shop ``source`` knows as ``external_id``, or None."""
    return conn.execute(
        select(products).where(
            products.c.tenant_id == tenant_id, products.c.source == source, products.c.external_id == external_id
        )
    ).first()
