"""What is accepted can be stored: ingest an accepted event through the pipeline and read every value back."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select

from core.events import CART_EVENTS, ORDER_EVENTS, cart_of, event_to_dict, order_of, product_of
from core.limits import LIMITS
from core.model import UNSET, Event
from core.pipeline import ingest_batch
from core.store.schema import cart_items, carts, contact_identities, contacts, events, order_items, orders, products
from tests.conftest import NOW, make_tenant

_tenants = itertools.count(1)


def same_json(left: Any, right: Any) -> bool:
    """Equal as JSON documents; numbers compared as numbers (jsonb gives 1e308 back as an integer)."""
    if isinstance(left, bool) or isinstance(right, bool) or left is None or right is None:
        return left is right or left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=1e-15, abs_tol=0.0) or left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_json(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(same_json(a, b) for a, b in zip(left, right, strict=True))
    return left == right


def _stored_amount(value: Decimal | str | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(LIMITS.money_quantum)


def store_and_check(engine: Engine, event: Event) -> None:
    """Ingest ``event`` for a tenant of its own (nothing else in the way) and check the store holds what it says."""
    number = next(_tenants)
    tenant = make_tenant(engine, f"prop-{number}", platform="woocommerce")
    event = replace(event, message_id=f"{number}:{event.message_id}"[: LIMITS.message_id])
    report = ingest_batch(engine, tenant, [event], lambda: NOW)
    assert report.stored == 1, report
    with engine.connect() as conn:
        row = conn.execute(
            select(events).where(events.c.tenant_id == tenant.id, events.c.message_id == event.message_id)
        ).one()
        assert row.occurred_at == event.timestamp
        assert row.source == event.source
        assert same_json(row.properties, json.loads(json.dumps(event_to_dict(event)["properties"])))
        contact_id = row.contact_id
        if contact_id is not None:
            contact = conn.execute(select(contacts).where(contacts.c.id == contact_id)).one()
            for name, value in event.contact.given().items():
                if name == "email" and value:
                    assert (
                        conn.execute(
                            select(contact_identities.c.contact_id).where(
                                contact_identities.c.tenant_id == tenant.id, contact_identities.c.value == value
                            )
                        ).scalar_one()
                        == contact_id
                    )
                assert getattr(contact, name) == value, name
            expected = {k: v for k, v in event.contact.attributes.items() if v is not None}
            assert same_json(contact.attributes, json.loads(json.dumps(expected)))
        if event.name in ORDER_EVENTS and contact_id is not None:
            order = order_of(event)
            stored = conn.execute(select(orders).where(orders.c.tenant_id == tenant.id)).one()
            assert (stored.external_id, stored.status, stored.currency) == (
                order.order_id,
                order.status.value,
                order.currency,
            )
            assert stored.total == _stored_amount(order.total)
            lines = conn.execute(
                select(order_items).where(order_items.c.order_id == stored.id).order_by(order_items.c.position)
            ).all()
            assert [(i.product_id, i.name, i.quantity, i.unit_price) for i in lines] == [
                (i.product_id, i.name, i.quantity, _stored_amount(i.price)) for i in order.items
            ]
        if event.name in CART_EVENTS and contact_id is not None:
            cart = cart_of(event)
            stored = conn.execute(select(carts).where(carts.c.tenant_id == tenant.id)).one()
            assert stored.external_id == cart.cart_id
            assert stored.total == _stored_amount(cart.total)
            assert stored.item_count == sum(item.quantity for item in cart.items)
            lines = conn.execute(select(cart_items).where(cart_items.c.cart_id == stored.id)).all()
            assert len(lines) == len(cart.items)
        if event.name in ("product_updated", "product_viewed"):
            product = product_of(event)
            stored = conn.execute(select(products).where(products.c.tenant_id == tenant.id)).one()
            assert (stored.external_id, stored.name, stored.sku, stored.brand) == (
                product.product_id,
                product.name,
                product.sku,
                product.brand,
            )
            assert stored.price == _stored_amount(product.price)
            assert list(stored.categories) == list(product.categories)
            if event.name == "product_updated":
                assert list(stored.cross_sell_ids) == list(product.cross_sell_ids)
        for name in ("first_name", "last_name", "city"):
            value = event.contact.given().get(name, UNSET)
            assert value is UNSET or value is None or len(value) <= LIMITS.person_name
