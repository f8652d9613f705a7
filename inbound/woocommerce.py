"""Turn a stored WooCommerce webhook delivery into Event API events.

The payload mapping belongs to the connector (``connectors.woocommerce.mapping``);
this module adds what only webhooks have:

- ``*.created`` / ``*.updated`` carry the resource as it is when sent: mapped
  as they are (a ``checkout-draft`` order, which the block checkout sends as
  ``order.updated``, is a cart: ``cart_updated``, never an order). Events are keyed on (resource, id, ``date_modified_gmt``), so a
  redelivery is a duplicate, and the store keeps the newest state whatever the
  arrival order.
- ``*.deleted`` carries only ``{"id": N}``. An order deleted (WooCommerce moves
  it to the trash) becomes **cancelled**, rebuilt from the stored order. A
  product deleted becomes **not in stock** (no longer buyable), rebuilt from
  the stored product. A customer deleted keeps the contact (orders and consent
  history stay) and marks it with the attribute ``woocommerce_account_deleted``;
  the account id stays linked so old orders still point at them. A deletion of
  something Relance never stored is ignored. The deletion is dated when it was
  received (WooCommerce sends no time), and never earlier than just after the
  stored state, so it is not mistaken for an older state.
- ``*.restored`` carries the full resource again: mapped like an update, and
  dated just after the deletion when WooCommerce's modification time is not
  newer (the restore may be sent before our deletion time).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from connectors.woocommerce.mapping import WooContext, map_customer, map_order, map_product
from core import normalize
from core.events import order_of, parse_event, product_of
from core.limits import LIMITS
from core.model import Event, OrderStatus
from core.store import snapshots
from core.store.contacts import ANONYMOUS, EMAIL, PHONE, external_kind
from core.store.tenants import Tenant
from inbound.deliveries import Delivery
from inbound.errors import DeliveryError
from inbound.payloads import json_body

SOURCE = "woocommerce"
RESOURCES = ("order", "customer", "product")
ACTIONS = ("created", "updated", "deleted", "restored")
#: The topics Relance processes; any other topic is acknowledged and ignored.
TOPICS = frozenset(f"{resource}.{action}" for resource in RESOURCES for action in ACTIONS)
DELETED_ATTRIBUTE = "woocommerce_account_deleted"
#: How far after the stored state a deletion or a restore is dated, at least.
STEP = timedelta(seconds=1)


def events_for_delivery(engine: Engine, tenant: Tenant, delivery: Delivery) -> list[Event]:
    """The events a WooCommerce delivery stands for (empty: nothing to do).

    Raises MappingError for a malformed resource (or one the store cannot
    hold), BadPayloadError for a body that is not JSON and DeliveryError for a
    body or topic that cannot be processed: each fails the delivery for good.
    """
    topic = delivery.topic
    if topic not in TOPICS:
        raise DeliveryError(f"topic {topic!r} is not one Relance processes")
    payload = json_body(delivery.body)
    if not isinstance(payload, dict):
        raise DeliveryError("the body is not a JSON object")
    resource, action = topic.split(".")
    ctx = WooContext.from_tenant(tenant.config)
    with engine.connect() as conn:
        if action == "deleted":
            record_id = _deleted_id(payload, resource)
            return [e for e in [_DELETED[resource](conn, tenant.id, record_id, delivery.received_at)] if e]
        if resource == "order":
            # a block checkout's checkout-draft (sent as order.updated) maps to a cart_updated event
            event = map_order(payload, ctx)
            restored = action == "restored" and event.name != "cart_updated"
            return [_restored_order(conn, tenant.id, event) if restored else event]
        if resource == "customer":
            event = map_customer(payload, ctx)
            return [_restored_customer(event) if action == "restored" else event]
        found = map_product(payload, ctx)
        if action == "restored":
            found = [_restored_product(conn, tenant.id, event) for event in found]
        return found


def _deleted_id(payload: dict[str, Any], resource: str) -> str:
    raw = payload.get("id")
    if isinstance(raw, bool) or raw in (None, "", 0, "0"):
        raise DeliveryError(f"{resource}.deleted body has no id")
    # The id is looked up in the store: it must be one the store could hold.
    if not isinstance(raw, int | str) or len(str(raw).strip()) > LIMITS.ident or normalize.unstorable(str(raw)):
        raise DeliveryError(f"{resource}.deleted body: id is not a {resource} id")
    return str(raw).strip()


def _suffixed(event: Event, suffix: str) -> str:
    """``event``'s message id with ``suffix``; DeliveryError when that is longer than the store holds."""
    message_id = f"{event.message_id}{suffix}"
    if len(message_id) > LIMITS.message_id:
        raise DeliveryError(f"message_id: is longer than {LIMITS.message_id} characters once marked {suffix}")
    return message_id


def _after(stored: datetime, received: datetime) -> datetime:
    return max(received, stored + STEP)


def _contact_ref(conn: Connection, tenant_id: int, contact_id: int | None) -> dict[str, Any] | None:
    """An identity of a stored contact to put on a rebuilt event (email first)."""
    if contact_id is None:
        return None
    email = snapshots.contact_email(conn, tenant_id, contact_id)
    if email:
        return {"contact": {"email": email}}
    by_kind = snapshots.identities_by_kind(conn, tenant_id, contact_id)
    if external_kind(SOURCE) in by_kind:
        return {"contact": {"external_id": by_kind[external_kind(SOURCE)]}}
    if PHONE in by_kind:
        return {"contact": {"phone": by_kind[PHONE]}}
    if ANONYMOUS in by_kind:
        return {"contact": {}, "anonymous_id": by_kind[ANONYMOUS]}
    if EMAIL in by_kind:
        return {"contact": {"email": by_kind[EMAIL]}}
    return None


def _stored_order(conn: Connection, tenant_id: int, order_id: str) -> Any:
    return snapshots.stored_order(conn, tenant_id, SOURCE, order_id)


def _deleted_order(conn: Connection, tenant_id: int, order_id: str, received: datetime) -> Event | None:
    row = _stored_order(conn, tenant_id, order_id)
    if row is None or row.status == OrderStatus.CANCELLED.value:
        return None
    ref = _contact_ref(conn, tenant_id, row.contact_id)
    if ref is None:
        return None
    when = _after(row.updated_at, received)
    items = snapshots.order_lines(conn, tenant_id, row.id)
    properties = {
        "order_id": order_id,
        "number": row.number,
        "status": OrderStatus.CANCELLED.value,
        "currency": row.currency,
        "total": normalize.money_str(row.total),
        "items": [
            {
                "product_id": item.product_id,
                "variant_id": item.variant_id,
                "sku": item.sku,
                "name": item.name,
                "quantity": item.quantity,
                "price": normalize.money_str(item.unit_price),
                "brand": item.brand,
                "categories": list(item.categories or []),
                "url": item.url,
                "image_url": item.image_url,
            }
            for item in items
        ],
        "created_at": normalize.isoformat(row.created_at),
        "updated_at": normalize.isoformat(when),
        "deleted_in_shop": True,
    }
    if row.cart_id:
        properties["cart_id"] = row.cart_id
    return parse_event(
        {
            "type": "track",
            "event": "order_updated",
            "message_id": f"{SOURCE}:orders:{order_id}:deleted-after:{normalize.isoformat(row.updated_at)}",
            "timestamp": normalize.isoformat(when),
            "properties": properties,
            "source": SOURCE,
            **ref,
        },
        default_source=SOURCE,
    )


def _deleted_customer(conn: Connection, tenant_id: int, customer_id: str, received: datetime) -> Event | None:
    known = snapshots.contact_with_identity(conn, tenant_id, external_kind(SOURCE), customer_id)
    if known is None:
        return None
    return parse_event(
        {
            "type": "identify",
            "message_id": f"{SOURCE}:customers:{customer_id}:deleted",
            "timestamp": normalize.isoformat(received),
            "contact": {"external_id": customer_id, "attributes": {DELETED_ATTRIBUTE: True}},
            "source": SOURCE,
        },
        default_source=SOURCE,
    )


def _stored_product(conn: Connection, tenant_id: int, product_id: str) -> Any:
    return snapshots.stored_product(conn, tenant_id, SOURCE, product_id)


def _deleted_product(conn: Connection, tenant_id: int, product_id: str, received: datetime) -> Event | None:
    row = _stored_product(conn, tenant_id, product_id)
    if row is None or row.in_stock is False:
        return None
    when = _after(row.updated_at, received)
    return parse_event(
        {
            "type": "track",
            "event": "product_updated",
            "message_id": f"{SOURCE}:products:{product_id}:deleted-after:{normalize.isoformat(row.updated_at)}",
            "timestamp": normalize.isoformat(when),
            "properties": {
                "product_id": product_id,
                "sku": row.sku,
                "name": row.name,
                "brand": row.brand,
                "categories": list(row.categories or []),
                "price": None if row.price is None else normalize.money_str(row.price),
                "currency": row.currency,
                "in_stock": False,
                "url": row.url,
                "image_url": row.image_url,
                "cross_sell_ids": list(row.cross_sell_ids or []),
                "deleted_in_shop": True,
            },
            "source": SOURCE,
        },
        default_source=SOURCE,
    )


_DELETED = {"order": _deleted_order, "customer": _deleted_customer, "product": _deleted_product}


def _restored_order(conn: Connection, tenant_id: int, event: Event) -> Event:
    order = order_of(event)
    row = _stored_order(conn, tenant_id, order.order_id)
    if row is None or row.status != OrderStatus.CANCELLED.value or order.updated_at > row.updated_at:
        return event
    when = row.updated_at + STEP
    properties = {**event.properties, "updated_at": normalize.isoformat(when)}
    return replace(event, message_id=_suffixed(event, ":restored"), timestamp=when, properties=properties)


def _restored_product(conn: Connection, tenant_id: int, event: Event) -> Event:
    product = product_of(event)
    row = _stored_product(conn, tenant_id, product.product_id)
    if row is None or row.in_stock is not False or product.updated_at > row.updated_at:
        return event
    return replace(event, message_id=_suffixed(event, ":restored"), timestamp=row.updated_at + STEP)


def _restored_customer(event: Event) -> Event:
    attributes = {**event.contact.attributes, DELETED_ATTRIBUTE: None}
    return replace(
        event, message_id=_suffixed(event, ":restored"), contact=replace(event.contact, attributes=attributes)
    )
