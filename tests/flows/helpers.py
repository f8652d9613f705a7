"""Builders for the flow tests: Event API v1 events, tenants with flow settings, simulations."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from core.events import parse_event
from core.flows.simulation import SimulationResult, simulate
from core.flows.store.schema import flow_runs
from core.model import Event
from core.store.schema import messages
from core.store.tenants import Tenant
from tests.conftest import make_tenant

_ids = itertools.count(1)
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Paris
OFF = {"enabled": False}
ONLY_CART = {"birthday": OFF, "cross_sell": OFF, "replenishment": OFF}


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


def iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def person(email: str = "marie@example.fr", consent: bool | None = True, **fields: Any) -> dict[str, Any]:
    contact: dict[str, Any] = {"email": email, **fields}
    if consent is not None:
        contact["consent"] = {"email": consent}
    return contact


def item(product: str, price: str = "10.00", quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return {"product_id": product, "name": f"Product {product}", "quantity": quantity, "price": price, **extra}


def identify(when: datetime, contact: dict[str, Any], anonymous_id: str | None = None) -> Event:
    raw = {"type": "identify", "message_id": f"t-{next(_ids)}", "timestamp": iso(when), "contact": contact}
    if anonymous_id:
        raw["anonymous_id"] = anonymous_id
    return parse_event(raw, default_source="simulation")


def track(
    name: str, when: datetime, contact: dict[str, Any], anonymous_id: str | None = None, **properties: Any
) -> Event:
    raw = {
        "type": "track",
        "event": name,
        "message_id": f"t-{next(_ids)}",
        "timestamp": iso(when),
        "contact": contact,
        "properties": properties,
    }
    if anonymous_id:
        raw["anonymous_id"] = anonymous_id
    return parse_event(raw, default_source="simulation")


def cart(
    when: datetime,
    contact: dict[str, Any],
    items: list[dict[str, Any]],
    cart_id: str = "c1",
    anonymous_id: str | None = None,
) -> Event:
    return track(
        "cart_updated",
        when,
        contact,
        anonymous_id,
        cart_id=cart_id,
        currency="EUR",
        items=items,
        recovery_url=f"https://shop.example/cart/{cart_id}",
    )


def order(
    when: datetime,
    contact: dict[str, Any],
    items: list[dict[str, Any]],
    order_id: str = "o1",
    status: str = "paid",
    **props: Any,
) -> Event:
    total = sum(float(i["price"]) * i.get("quantity", 1) for i in items)
    return track(
        "order_placed",
        when,
        contact,
        order_id=order_id,
        status=status,
        currency="EUR",
        total=f"{total:.2f}",
        items=items,
        **props,
    )


def product(when: datetime, product_id: str, in_stock: bool = True, **props: Any) -> Event:
    return parse_event(
        {
            "type": "track",
            "event": "product_updated",
            "message_id": f"t-{next(_ids)}",
            "timestamp": iso(when),
            "properties": {
                "product_id": product_id,
                "name": f"Product {product_id}",
                "in_stock": in_stock,
                "price": "10.00",
                "currency": "EUR",
                **props,
            },
        },
        default_source="simulation",
    )


def flow_tenant(engine: Engine, flows: dict[str, Any] | None = None, name: str = "shop", **extra: Any) -> Tenant:
    return make_tenant(engine, name, flows=flows or {}, **extra)


def run(engine: Engine, tenant: Tenant, events: list[Event], until: datetime | None = None) -> SimulationResult:
    return simulate(engine, tenant, events, until)


def sent(result: SimulationResult, flow: str | None = None) -> list[tuple[str, int, datetime, str | None]]:
    return [(m.flow, m.step, m.time, m.to) for m in result.messages if flow is None or m.flow == flow]


def outbox(engine: Engine, tenant: Tenant) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(messages).where(messages.c.tenant_id == tenant.id).order_by(messages.c.id)))


def runs(engine: Engine, tenant: Tenant) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(flow_runs).where(flow_runs.c.tenant_id == tenant.id).order_by(flow_runs.c.id)))
