"""Apply Event API v1 events to the store: the one write path for every source.

Webhooks, connectors, the tracker, file imports and simulations all end here.
``ingest_event`` is idempotent on the event's ``message_id``, and order, cart
and product snapshots only ever move forward in time: an older state arriving
late never overwrites a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.events import CART_EVENTS, ORDER_EVENTS, cart_of, event_to_dict, order_of, product_of
from core.model import Channel, ContactInfo, Event, LineItem, Platform
from core.store.contacts import apply_contact_info, identities_of, resolve_contact
from core.store.schema import cart_items, carts, events, order_items, orders, products

PLATFORMS = frozenset(p.value for p in Platform)
#: Sources whose newsletter_subscribed events are a confirmed opt-in. The tracker's
#: are not: they need the double opt-in confirmation first.
CONFIRMED_SIGNUP_SOURCES = PLATFORMS | {"api", "import", "simulation"}


@dataclass(frozen=True)
class Ingested:
    """What ingesting one event did.

    ``outcome`` is "stored" or "duplicate". ``name`` is the stored event name
    (an order event for an order seen for the first time is stored as
    ``order_placed``, later ones as ``order_updated``). ``effects`` lists what
    changed, for flows and segments to react to: ``contact_created``,
    ``contact_merged``, ``profile``, ``consent``, ``order_created``,
    ``order_changed``, ``order_status``, ``order_paid``, ``cart_changed``,
    ``cart_emptied``, ``cart_converted``, ``product_changed``, ``stale``;
    ``cart_created`` and ``product_created`` when the cart or product is new.
    """

    outcome: str
    event_id: int | None = None
    contact_id: int | None = None
    name: str | None = None
    effects: frozenset[str] = field(default_factory=frozenset)
    order_id: int | None = None
    cart_id: int | None = None


def commerce_source(event: Event, tenant_platform: str) -> str:
    """The platform whose ids an event's orders, carts and products use."""
    return event.source if event.source in PLATFORMS else tenant_platform


def _key(table: Table) -> Any:
    return (
        table.c.tenant_id == bindparam("b_tenant"),
        table.c.source == bindparam("b_source"),
        table.c.external_id == bindparam("b_external"),
    )


# Statements of the hot path are built once and executed with parameters: building
# SQLAlchemy expressions per event cost more than running them.
@cache
def _statements(dialect: str) -> dict[str, Any]:
    dml = postgresql if dialect == "postgresql" else sqlite
    product_columns = [c.name for c in products.c if c.name not in ("id", "tenant_id", "source", "external_id")]
    product_upsert = dml.insert(products)
    return {
        "new_event": dml.insert(events).on_conflict_do_nothing().returning(events.c.id),
        "event_done": update(events).where(events.c.id == bindparam("b_id")),
        "order": select(orders.c.id, orders.c.status, orders.c.updated_at, orders.c.paid_at).where(*_key(orders)),
        "new_order": insert(orders).returning(orders.c.id),
        "update_order": update(orders).where(orders.c.id == bindparam("b_id")),
        "drop_order_items": delete(order_items).where(order_items.c.order_id == bindparam("b_id")),
        "order_items": insert(order_items),
        "convert_cart": update(carts)
        .where(*_key(carts), carts.c.converted_order_id.is_(None))
        .values(converted_order_id=bindparam("b_order")),
        "cart": select(carts.c.id, carts.c.updated_at).where(*_key(carts)),
        "new_cart": insert(carts).returning(carts.c.id),
        "update_cart": update(carts).where(carts.c.id == bindparam("b_id")),
        "drop_cart_items": delete(cart_items).where(cart_items.c.cart_id == bindparam("b_id")),
        "cart_items": insert(cart_items),
        "product": select(products.c.updated_at).where(*_key(products)),
        "upsert_product": product_upsert.on_conflict_do_update(
            index_elements=["tenant_id", "source", "external_id"],
            set_={name: product_upsert.excluded[name] for name in product_columns},
        ),
    }


def ingest_event(conn: Connection, tenant_id: int, tenant_platform: str, event: Event, now: datetime) -> Ingested:
    """Store one event and apply it to contacts, orders, carts and products."""
    sql = _statements(conn.dialect.name)
    event_id = conn.execute(
        sql["new_event"],
        {
            "tenant_id": tenant_id,
            "message_id": event.message_id,
            "type": event.type.value,
            "name": event.name,
            "occurred_at": event.timestamp,
            "received_at": now,
            "source": event.source,
            "properties": event_to_dict(event)["properties"],
        },
    ).scalar()
    if event_id is None:
        return Ingested(outcome="duplicate")

    effects: set[str] = set()
    platform = commerce_source(event, tenant_platform)
    contact_platform = event.source if event.source in PLATFORMS else None
    found = identities_of(event.contact, event.anonymous_id, contact_platform)
    contact_id: int | None = None
    if found:
        resolution = resolve_contact(conn, tenant_id, found, now)
        contact_id = resolution.contact_id
        if resolution.created:
            effects.add("contact_created")
        if resolution.merged:
            effects.add("contact_merged")
        changed = apply_contact_info(
            conn, tenant_id, contact_id, _implied_consent(event), event.timestamp, event.source, event.message_id, now
        )
        if changed - {"email_consent", "sms_consent"}:
            effects.add("profile")
        if changed & {"email_consent", "sms_consent"}:
            effects.add("consent")

    name = event.name
    order_row_id = cart_row_id = None
    if name in ORDER_EVENTS and contact_id is not None:
        name, order_row_id = _apply_order(conn, tenant_id, platform, contact_id, event, now, effects)
    elif name in CART_EVENTS and contact_id is not None:
        cart_row_id = _apply_cart(conn, tenant_id, platform, contact_id, event, now, effects)
    elif name == "product_updated":
        _apply_product(conn, tenant_id, platform, event, effects, overwrite=True)
    elif name == "product_viewed":
        _apply_product(conn, tenant_id, platform, event, effects, overwrite=False)

    conn.execute(sql["event_done"], {"b_id": event_id, "contact_id": contact_id, "name": name})
    return Ingested(
        outcome="stored",
        event_id=event_id,
        contact_id=contact_id,
        name=name,
        effects=frozenset(effects),
        order_id=order_row_id,
        cart_id=cart_row_id,
    )


def _implied_consent(event: Event) -> ContactInfo:
    """Newsletter events imply email consent unless the event says otherwise."""
    info = event.contact
    if Channel.EMAIL in info.consent:
        return info
    implied: bool | None = None
    if event.name == "newsletter_unsubscribed":
        implied = False
    elif event.name == "newsletter_subscribed" and event.source in CONFIRMED_SIGNUP_SOURCES:
        implied = True
    if implied is None:
        return info
    return replace(info, consent={**info.consent, Channel.EMAIL: implied})


def _item_rows(tenant_id: int, parent_key: str, parent_id: int, items: tuple[LineItem, ...]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            parent_key: parent_id,
            "position": position,
            "product_id": item.product_id,
            "variant_id": item.variant_id,
            "sku": item.sku,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.price,
            "brand": item.brand,
            "categories": list(item.categories),
            "url": item.url,
            "image_url": item.image_url,
        }
        for position, item in enumerate(items)
    ]


def _apply_order(
    conn: Connection,
    tenant_id: int,
    platform: str,
    contact_id: int | None,
    event: Event,
    now: datetime,
    effects: set[str],
) -> tuple[str, int]:
    order = order_of(event)
    sql = _statements(conn.dialect.name)
    row = conn.execute(
        sql["order"], {"b_tenant": tenant_id, "b_source": platform, "b_external": order.order_id}
    ).first()
    paid = order.status.is_revenue
    values = {
        "number": order.number,
        "contact_id": contact_id,
        "status": order.status.value,
        "currency": order.currency,
        "total": order.total,
        "cart_id": order.cart_id,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }
    if row is None:
        order_id = conn.execute(
            sql["new_order"],
            {
                "tenant_id": tenant_id,
                "source": platform,
                "external_id": order.order_id,
                "ingested_at": now,
                "paid_at": order.updated_at if paid else None,
                **values,
            },
        ).scalar_one()
        effects.update({"order_created", "order_status"})
        if paid:
            effects.add("order_paid")
        name = "order_placed"
    else:
        order_id = row.id
        name = "order_updated"
        if order.updated_at <= row.updated_at:
            effects.add("stale")
            return name, order_id
        if row.status != order.status.value:
            effects.add("order_status")
            if paid and row.paid_at is None:
                values["paid_at"] = order.updated_at
                effects.add("order_paid")
        effects.add("order_changed")
        conn.execute(sql["update_order"], {"b_id": order_id, **values})
        conn.execute(sql["drop_order_items"], {"b_id": order_id})
    if order.items:
        conn.execute(sql["order_items"], _item_rows(tenant_id, "order_id", order_id, order.items))
    if order.cart_id:
        converted = conn.execute(
            sql["convert_cart"],
            {"b_tenant": tenant_id, "b_source": platform, "b_external": order.cart_id, "b_order": order_id},
        ).rowcount
        if converted:
            effects.add("cart_converted")
    return name, order_id


def _apply_cart(
    conn: Connection, tenant_id: int, platform: str, contact_id: int, event: Event, now: datetime, effects: set[str]
) -> int:
    cart = cart_of(event)
    sql = _statements(conn.dialect.name)
    row = conn.execute(sql["cart"], {"b_tenant": tenant_id, "b_source": platform, "b_external": cart.cart_id}).first()
    values: dict[str, Any] = {
        "contact_id": contact_id,
        "currency": cart.currency,
        "total": cart.total,
        "item_count": sum(item.quantity for item in cart.items),
        "updated_at": cart.updated_at,
    }
    if cart.recovery_url:
        values["recovery_url"] = cart.recovery_url
    if event.name == "checkout_started":
        values["checkout_started_at"] = cart.updated_at
    if row is None:
        cart_id = conn.execute(
            sql["new_cart"],
            {
                "tenant_id": tenant_id,
                "source": platform,
                "external_id": cart.cart_id,
                "created_at": cart.updated_at,
                **values,
            },
        ).scalar_one()
        effects.add("cart_created")
    else:
        cart_id = row.id
        if cart.updated_at < row.updated_at:
            effects.add("stale")
            return cart_id
        conn.execute(sql["update_cart"], {"b_id": cart_id, **values})
        conn.execute(sql["drop_cart_items"], {"b_id": cart_id})
    effects.add("cart_changed")
    if not cart.items:
        effects.add("cart_emptied")
    else:
        conn.execute(sql["cart_items"], _item_rows(tenant_id, "cart_id", cart_id, cart.items))
    return cart_id


def _apply_product(
    conn: Connection, tenant_id: int, platform: str, event: Event, effects: set[str], overwrite: bool
) -> None:
    product = product_of(event)
    row = {
        "tenant_id": tenant_id,
        "source": platform,
        "external_id": product.product_id,
        "sku": product.sku,
        "name": product.name,
        "brand": product.brand,
        "categories": list(product.categories),
        "price": product.price,
        "currency": product.currency,
        "in_stock": product.in_stock,
        "url": product.url,
        "image_url": product.image_url,
        "cross_sell_ids": list(product.cross_sell_ids),
        "updated_at": product.updated_at,
    }
    sql = _statements(conn.dialect.name)
    existing = conn.execute(
        sql["product"], {"b_tenant": tenant_id, "b_source": platform, "b_external": product.product_id}
    ).scalar()
    if existing is not None and (not overwrite or product.updated_at <= existing):
        if overwrite:
            effects.add("stale")
        return
    conn.execute(sql["upsert_product"], row)
    effects.add("product_changed")
    if existing is None:
        effects.add("product_created")
