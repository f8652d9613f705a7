"""What a preview shows: a contact's latest cart or paid order, and the shop's own products.

``relance preview`` and the demo render a flow's message for a real contact
when the store has what the flow would show, else for a sample one with the
shop's first products.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from core.model import REVENUE_STATUSES
from core.store.schema import carts, order_items, orders, products


def latest_open_cart(conn: Connection, tenant_id: int, contact_id: int) -> str | None:
    """The external id of the contact's most recently updated cart with items, or None."""
    return conn.execute(
        select(carts.c.external_id)
        .where(carts.c.tenant_id == tenant_id, carts.c.contact_id == contact_id, carts.c.item_count > 0)
        .order_by(carts.c.updated_at.desc())
        .limit(1)
    ).scalar()


def latest_paid_order(conn: Connection, tenant_id: int, contact_id: int) -> Any:
    """(id, external_id) of the contact's latest order with a revenue status, or None."""
    return conn.execute(
        select(orders.c.id, orders.c.external_id)
        .where(orders.c.tenant_id == tenant_id, orders.c.contact_id == contact_id)
        .where(orders.c.status.in_(REVENUE_STATUSES))
        .order_by(orders.c.created_at.desc())
        .limit(1)
    ).first()


def order_product_ids(conn: Connection, tenant_id: int, order_id: int) -> list[str]:
    """The product ids of an order's lines, in line order."""
    return list(
        conn.execute(
            select(order_items.c.product_id)
            .join(orders, orders.c.id == order_items.c.order_id)
            .where(orders.c.tenant_id == tenant_id, order_items.c.order_id == order_id)
            .order_by(order_items.c.position)
        ).scalars()
    )


def first_products(conn: Connection, tenant_id: int, limit: int, excluding: list[str] | None = None) -> list[str]:
    """External ids of the shop's first ``limit`` products (in the store's order), without ``excluding``."""
    query = select(products.c.external_id).where(products.c.tenant_id == tenant_id)
    if excluding is not None:
        query = query.where(products.c.external_id.not_in(excluding or [""])).order_by(products.c.external_id)
    else:
        query = query.order_by(products.c.id)
    return list(conn.execute(query.limit(limit)).scalars())
