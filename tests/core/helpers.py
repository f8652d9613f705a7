"""Small builders of Event API v1 objects for the tests."""

from __future__ import annotations

import itertools
from typing import Any

from core.events import parse_event
from core.model import Event

_ids = itertools.count(1)


def event(name: str | None, when: str, contact: dict[str, Any] | None = None, **fields: Any) -> Event:
    raw: dict[str, Any] = {
        "type": "identify" if name is None else "track",
        "message_id": fields.pop("message_id", f"m-{next(_ids)}"),
        "timestamp": when,
        "contact": contact or {},
    }
    if name:
        raw["event"] = name
    raw.update(fields)
    return parse_event(raw)


def order(order_id: str, status: str, when: str, contact: dict[str, Any], total: str = "10.00", **props: Any) -> Event:
    properties = {"order_id": order_id, "status": status, "currency": "EUR", "total": total, **props}
    properties.setdefault("items", [{"product_id": "p1", "name": "Thing", "quantity": 1, "price": total}])
    return event("order_placed", when, contact, source=props.pop("source", "woocommerce"), properties=properties)
