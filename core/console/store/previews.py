"""What a preview of a flow's message is composed from: the contact's latest cart or order, or the shop's products."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from core.messages.content import Content
from core.messages.samples import sample_content
from core.messages.store.content import get_products
from core.model import REVENUE_STATUSES
from core.store.schema import carts, order_items, orders, products
from core.store.tenants import Tenant


def flow_context(conn: Connection, tenant: Tenant, contact_id: int, flow: str) -> dict[str, Any]:
    """The outbox context a flow would give this contact: their latest cart or order."""
    if flow == "abandoned_cart":
        cart = conn.execute(
            select(carts.c.external_id)
            .where(carts.c.tenant_id == tenant.id, carts.c.contact_id == contact_id, carts.c.item_count > 0)
            .order_by(carts.c.updated_at.desc())
        ).first()
        return {"cart_id": cart.external_id} if cart else {}
    if flow in ("cross_sell", "replenishment"):
        order = conn.execute(
            select(orders.c.id, orders.c.external_id)
            .where(orders.c.tenant_id == tenant.id, orders.c.contact_id == contact_id)
            .where(orders.c.status.in_(REVENUE_STATUSES))
            .order_by(orders.c.created_at.desc())
        ).first()
        if order is None:  # no paid order yet: show the shop's first products
            first = conn.execute(
                select(products.c.external_id).where(products.c.tenant_id == tenant.id).order_by(products.c.id).limit(3)
            ).scalars()
            return {"products": list(first)[: 1 if flow == "replenishment" else 3]}
        bought = list(
            conn.execute(
                select(order_items.c.product_id)
                .where(order_items.c.order_id == order.id)
                .order_by(order_items.c.position)
            ).scalars()
        )
        if flow == "replenishment":
            return {"order_id": order.external_id, "products": bought[:1]}
        others = conn.execute(
            select(products.c.external_id)
            .where(products.c.tenant_id == tenant.id, products.c.external_id.not_in(bought or [""]))
            .order_by(products.c.external_id)
            .limit(3)
        ).scalars()
        return {"order_id": order.external_id, "products": list(others)}
    return {}


def sample_with_shop_products(conn: Connection, tenant: Tenant, lang: str | None) -> Content:
    content = sample_content(tenant.config, lang or tenant.config.locale.split("_")[0])
    ids = conn.execute(
        select(products.c.external_id).where(products.c.tenant_id == tenant.id).order_by(products.c.id).limit(2)
    ).scalars()
    found = get_products(conn, tenant.id, list(ids), tenant.config.platform.value)
    if found:
        content = Content(
            contact=content.contact,
            products=tuple(found),
            cart=content.cart,
            order=content.order,
            coupon=content.coupon,
        )
    return content
