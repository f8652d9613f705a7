"""Previews of a flow's messages, as the flow would send them (``relance preview``, the demo and the console's flow pages).

With a contact's email the message is composed from their latest cart or
order; without one (or when they have none for the flow) from sample data,
with the shop's own products when it has some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.errors import NotFoundError, UserError
from core.messages.compose import ComposedMessage, MessageDraft, compose_content
from core.messages.content import Content
from core.messages.errors import TemplateError
from core.messages.samples import sample_content
from core.messages.store.content import get_products, load
from core.store import samples
from core.store.contacts import find_contact_id
from core.store.tenants import Tenant

DOUBLE_OPT_IN = "double_opt_in"


def flow_context(conn: Connection, tenant: Tenant, contact_id: int, flow: str) -> dict[str, Any]:
    """The outbox context a flow would give this contact: their latest cart or order."""
    if flow == "abandoned_cart":
        cart = samples.latest_open_cart(conn, tenant.id, contact_id)
        return {"cart_id": cart} if cart else {}
    if flow in ("cross_sell", "replenishment"):
        order = samples.latest_paid_order(conn, tenant.id, contact_id)
        if order is None:  # no paid order yet: show the shop's first products
            first = samples.first_products(conn, tenant.id, 3)
            return {"products": first[: 1 if flow == "replenishment" else 3]}
        bought = samples.order_product_ids(conn, tenant.id, order.id)
        if flow == "replenishment":
            return {"order_id": order.external_id, "products": bought[:1]}
        others = samples.first_products(conn, tenant.id, 3, excluding=bought)
        return {"order_id": order.external_id, "products": others}
    return {}


def sample_with_shop_products(conn: Connection, tenant: Tenant, lang: str | None) -> Content:
    """Sample content in ``lang`` (or the shop's), showing the shop's first two products when it has some."""
    content = sample_content(tenant.config, lang or tenant.config.locale.split("_")[0])
    found = get_products(conn, tenant.id, samples.first_products(conn, tenant.id, 2), tenant.config.platform.value)
    if found:
        content = Content(
            contact=content.contact,
            products=tuple(found),
            cart=content.cart,
            order=content.order,
            coupon=content.coupon,
        )
    return content


def render_preview(
    conn: Connection,
    tenant: Tenant,
    flow: str,
    step: int,
    channel: str,
    email: str | None,
    lang: str | None,
    base_url: str,
    secret_key: str,
    now: datetime,
) -> ComposedMessage:
    """Compose the message ``flow``/``step`` for the contact with ``email`` (or a sample one)."""
    contact_id = 0
    content: Content | None = None
    if email:
        contact_id = find_contact_id(conn, tenant.id, email) or 0
        if not contact_id:
            raise NotFoundError(
                f"no contact with the email {email!r} in tenant {tenant.name!r}; leave --contact out for sample data"
            )
        context = flow_context(conn, tenant, contact_id, flow)
        content = load(conn, tenant.id, tenant.config.platform.value, contact_id, context)
        if content is not None and not content.products:
            sample = sample_with_shop_products(conn, tenant, lang)
            content = Content(
                contact=content.contact,
                products=sample.products,
                cart=sample.cart,
                order=sample.order,
                coupon=sample.coupon,
            )
    if content is None:
        content = sample_with_shop_products(conn, tenant, lang)
    if lang:
        locale = {"fr": "fr_FR", "en": "en_IE"}.get(lang, lang)
        content = Content(
            **{**content.__dict__, "contact": type(content.contact)(**{**content.contact.__dict__, "locale": locale})}
        )
    coupon = content.coupon if step > 1 or flow == "birthday" else None
    content = Content(**{**content.__dict__, "coupon": coupon})
    draft = MessageDraft(
        id=0,
        tenant_id=tenant.id,
        contact_id=contact_id,
        flow=flow,
        step=step,
        channel=channel,
        marketing=flow != DOUBLE_OPT_IN,
        template=f"{flow}/{step}",
        context={},
        dedupe_key=f"preview:{flow}:{step}",
        due_at=now,
    )
    try:
        return compose_content(tenant.config, draft, content, base_url, secret_key)
    except TemplateError as exc:
        raise UserError(str(exc)) from exc
