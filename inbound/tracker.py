"""Storefront tracker batches: the check made before one is stored, and what it turns into.

The tracker's tenant settings are ``core.tracker``; the web service serves the
script and receives the batches (``webhooks.collect``).

A batch is what ``/t/<tenant>.js`` posts to ``/collect/<tenant>``::

    {"key": "pk_...", "anonymous_id": "k2j3...", "events": [
      {"id": "1", "event": "page_viewed", "properties": {"url": "...", "title": "..."}},
      {"id": "2", "type": "identify", "contact": {"email": "marie@example.fr"}}]}

Events are dated when the batch was received (a browser's clock is not
trusted), in batch order. Their source is ``tracker``: an email typed into a
form identifies a visitor but never counts as consent to marketing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from core.errors import EventError
from core.events import parse_event, shown
from core.model import Event
from inbound.errors import BadPayloadError
from inbound.payloads import json_body

SOURCE = "tracker"
ANONYMOUS_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_EVENTS = 50
#: What the tracker may send, and the properties kept for each.
EVENTS: dict[str, frozenset[str]] = {
    "page_viewed": frozenset({"url", "title", "referrer"}),
    "product_viewed": frozenset(
        {"product_id", "sku", "name", "brand", "categories", "price", "currency", "url", "image_url"}
    ),
    "category_viewed": frozenset({"category", "url"}),
    "cart_updated": frozenset({"cart_id", "currency", "total", "items", "recovery_url"}),
    "checkout_started": frozenset({"cart_id", "currency", "total", "items", "recovery_url"}),
    "newsletter_subscribed": frozenset({"list", "url"}),
    "back_in_stock_requested": frozenset({"product_id", "url"}),  # a "notify me" form (flow back_in_stock)
    "identify": frozenset(),
}
CONTACT_KEYS = frozenset({"email", "phone", "first_name", "last_name"})


def check_batch(payload: Any) -> tuple[str, str, list[Any]]:
    """Return (key, anonymous id, events) of a tracker batch; raise BadPayloadError saying what is wrong."""
    if not isinstance(payload, Mapping):
        raise BadPayloadError("the body must be a JSON object with key, anonymous_id and events")
    key = payload.get("key")
    anonymous_id = payload.get("anonymous_id")
    batch = payload.get("events")
    if not isinstance(key, str) or not key:
        raise BadPayloadError("key: the tenant's public key is required")
    if not isinstance(anonymous_id, str) or not ANONYMOUS_ID_RE.match(anonymous_id):
        raise BadPayloadError("anonymous_id: must be 8 to 64 letters, digits, - or _")
    if not isinstance(batch, list) or not 1 <= len(batch) <= MAX_EVENTS:
        raise BadPayloadError(f"events: must be a list of 1 to {MAX_EVENTS} events")
    return key, anonymous_id, batch


def _raw_event(item: Any, index: int, anonymous_id: str, delivery_id: int) -> dict[str, Any]:
    where = f"events[{index}]"
    if not isinstance(item, Mapping):
        raise EventError(f"{where}: must be an object")
    name = "identify" if item.get("type") == "identify" else item.get("event")
    if name not in EVENTS:
        raise EventError(f"{where}.event: {shown(name)} is not one the tracker sends ({', '.join(sorted(EVENTS))})")
    client_id = item.get("id")
    if isinstance(client_id, str | int) and not isinstance(client_id, bool) and CLIENT_ID_RE.match(str(client_id)):
        message_id = f"{SOURCE}:{anonymous_id}:{client_id}"
    else:
        message_id = f"{SOURCE}:d{delivery_id}:{index}"
    contact = item.get("contact") if isinstance(item.get("contact"), Mapping) else {}
    properties = item.get("properties") if isinstance(item.get("properties"), Mapping) else {}
    raw: dict[str, Any] = {
        "type": "identify" if name == "identify" else "track",
        "message_id": message_id,
        "anonymous_id": anonymous_id,
        # Never consent: the tracker cannot prove an opt-in (double opt-in confirms it).
        "contact": {k: v for k, v in contact.items() if k in CONTACT_KEYS and v not in (None, "")},
        "properties": {k: v for k, v in properties.items() if k in EVENTS[name]},
        "source": SOURCE,
    }
    if name != "identify":
        raw["event"] = name
    if name in ("cart_updated", "checkout_started") and not raw["properties"].get("cart_id"):
        raw["properties"]["cart_id"] = f"{SOURCE}-{anonymous_id}"
    return raw


def events_from_batch(body: bytes, delivery_id: int, received_at: Any) -> tuple[list[Event], list[str]]:
    """The events of a stored tracker batch, and the reasons for those that were left out.

    Events are dated ``received_at`` plus their position in microseconds, so
    the batch keeps its order. Raises BadPayloadError when the batch itself is
    malformed.
    """
    _key, anonymous_id, batch = check_batch(json_body(body))
    found: list[Event] = []
    rejected: list[str] = []
    for index, item in enumerate(batch):
        try:
            raw = _raw_event(item, index, anonymous_id, delivery_id)
            raw["timestamp"] = (received_at + timedelta(microseconds=index)).isoformat()
            found.append(parse_event(raw, default_source=SOURCE))
        except EventError as exc:
            rejected.append(str(exc) if str(exc).startswith("events[") else f"events[{index}]: {exc}")
    return found, rejected
