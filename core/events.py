"""Event API v1: parse, validate, normalise and serialise events (shared/EVENTS.md).

``parse_event`` turns one JSON object into an ``Event`` or raises ``EventError``
naming the bad field; ``event_to_dict`` is its inverse. ``read_events`` reads a
JSON Lines file, reporting bad lines by number without stopping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from core import normalize
from core.errors import EventError
from core.model import (
    CONTACT_FIELDS,
    UNSET,
    Cart,
    Channel,
    ContactInfo,
    Event,
    EventType,
    LineItem,
    Order,
    OrderStatus,
    Product,
)

CART_EVENTS = frozenset({"cart_updated", "checkout_started"})
ORDER_EVENTS = frozenset({"order_placed", "order_updated"})
PRODUCT_EVENTS = frozenset({"product_updated"})
#: Events about the shop, not about a person: they need no contact.
CONTACTLESS_EVENTS = PRODUCT_EVENTS
KNOWN_EVENTS = frozenset(
    {
        "page_viewed",
        "product_viewed",
        "category_viewed",
        "newsletter_subscribed",
        "newsletter_unsubscribed",
        "account_created",
        "form_submitted",
        "email_opened",
        "email_clicked",
        "survey_answered",
        "segment_entered",
        "segment_exited",
    }
    | CART_EVENTS
    | ORDER_EVENTS
    | PRODUCT_EVENTS
)
_ENVELOPE_KEYS = frozenset(
    {"type", "event", "message_id", "timestamp", "anonymous_id", "contact", "properties", "source"}
)
_CONTACT_KEYS = frozenset(CONTACT_FIELDS) | {"consent", "external_id", "attributes"}
MAX_ID_LENGTH = 200


def _fail(path: str, reason: str) -> EventError:
    return EventError(f"{path}: {reason}")


def _text(value: Any, path: str, max_length: int = 500) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _fail(path, "must be a string")
    text = str(value).strip()
    if len(text) > max_length:
        raise _fail(path, f"is longer than {max_length} characters")
    return text or None


def _ident(value: Any, path: str) -> str | None:
    return _text(value, path, MAX_ID_LENGTH)


def _convert(path: str, func: Any, value: Any) -> Any:
    try:
        return func(value)
    except ValueError as exc:
        raise _fail(path, str(exc)) from exc


def _parse_contact(raw: Any) -> ContactInfo:
    if raw is None:
        return ContactInfo()
    if not isinstance(raw, Mapping):
        raise _fail("contact", "must be an object")
    unknown = set(raw) - _CONTACT_KEYS
    if unknown:
        raise _fail(f"contact.{sorted(unknown)[0]}", f"unknown field (allowed: {', '.join(sorted(_CONTACT_KEYS))})")
    values: dict[str, Any] = {}
    country = UNSET
    if "country" in raw:
        country = values["country"] = _convert("contact.country", normalize.country, raw["country"])
    for name in ("first_name", "last_name", "city"):
        if name in raw:
            values[name] = _text(raw[name], f"contact.{name}", 200)
    if "email" in raw:
        values["email"] = _convert("contact.email", normalize.email, raw["email"])
    if "phone" in raw:
        region = country if isinstance(country, str) else None
        try:
            values["phone"] = normalize.phone(raw["phone"], region)
        except ValueError:
            # A mistyped phone must not cost us the order or the signup that carries it:
            # it is left out, and the contact keeps the phone it had.
            pass
    if "birthday" in raw:
        values["birthday"] = _convert("contact.birthday", normalize.birthday, raw["birthday"])
    if "locale" in raw:
        values["locale"] = _convert("contact.locale", normalize.locale, raw["locale"])
    if "timezone" in raw:
        values["timezone"] = _convert("contact.timezone", normalize.timezone, raw["timezone"])
    if "external_id" in raw:
        values["external_id"] = _ident(raw["external_id"], "contact.external_id")
    consent: dict[Channel, bool] = {}
    raw_consent = raw.get("consent") or {}
    if not isinstance(raw_consent, Mapping):
        raise _fail("contact.consent", 'must be an object such as {"email": true}')
    for key, granted in raw_consent.items():
        try:
            channel = Channel(key)
        except ValueError as exc:
            raise _fail(f"contact.consent.{key}", "unknown channel (allowed: email, sms)") from exc
        if granted is None:
            continue
        if not isinstance(granted, bool):
            raise _fail(f"contact.consent.{key}", "must be true or false")
        consent[channel] = granted
    attributes = raw.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise _fail("contact.attributes", "must be an object")
    return ContactInfo(consent=consent, attributes=dict(attributes), **values)


def _parse_items(raw: Any, path: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, "must be a list")
    items = []
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            raise _fail(where, "must be an object")
        quantity = item.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int | float | str):
            raise _fail(f"{where}.quantity", "must be a whole number")
        try:
            quantity_value = Decimal(str(quantity))
        except ArithmeticError as exc:
            raise _fail(f"{where}.quantity", "must be a whole number") from exc
        if quantity_value != quantity_value.to_integral_value() or quantity_value < 0:
            raise _fail(f"{where}.quantity", "must be a whole number, 0 or more")
        price = _convert(f"{where}.price", normalize.money, item.get("price", "0"))
        items.append(
            {
                "product_id": _ident(item.get("product_id"), f"{where}.product_id"),
                "variant_id": _ident(item.get("variant_id"), f"{where}.variant_id"),
                "sku": _ident(item.get("sku"), f"{where}.sku"),
                "name": _text(item.get("name"), f"{where}.name"),
                "quantity": int(quantity_value),
                "price": normalize.money_str(price),
                "brand": _text(item.get("brand"), f"{where}.brand", 200),
                "categories": _categories(item.get("categories"), f"{where}.categories"),
                "url": _text(item.get("url"), f"{where}.url", 2000),
                "image_url": _text(item.get("image_url"), f"{where}.image_url", 2000),
            }
        )
    return items


def _categories(raw: Any, path: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise _fail(path, "must be a list of names")
    names = []
    for index, name in enumerate(raw):
        text = _text(name, f"{path}[{index}]", 200)
        if text:
            names.append(text)
    return names


def _money_prop(props: dict[str, Any], key: str, required: bool = False) -> None:
    if key not in props or props[key] is None:
        if required:
            raise _fail(f"properties.{key}", "is required")
        return
    props[key] = normalize.money_str(_convert(f"properties.{key}", normalize.money, props[key]))


def _parse_properties(name: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise _fail("properties", "must be an object")
    props = dict(raw)
    if "currency" in props:
        props["currency"] = _convert("properties.currency", normalize.currency, props["currency"])
    if name in CART_EVENTS or name in ORDER_EVENTS:
        props["items"] = _parse_items(props.get("items"), "properties.items")
        _money_prop(props, "total")
    if name in CART_EVENTS:
        if not _ident(props.get("cart_id"), "properties.cart_id"):
            raise _fail("properties.cart_id", "is required")
        props["cart_id"] = _ident(props["cart_id"], "properties.cart_id")
    if name in ORDER_EVENTS:
        order_id = _ident(props.get("order_id"), "properties.order_id")
        if not order_id:
            raise _fail("properties.order_id", "is required")
        props["order_id"] = order_id
        status = props.get("status", "pending")
        try:
            props["status"] = OrderStatus(status).value
        except ValueError as exc:
            allowed = ", ".join(s.value for s in OrderStatus)
            raise _fail("properties.status", f"unknown order status {status!r} (allowed: {allowed})") from exc
        if not props.get("currency"):
            raise _fail("properties.currency", "is required for orders")
        if props.get("total") is None:
            raise _fail("properties.total", "is required for orders")
        for key in ("number", "cart_id"):
            if key in props:
                props[key] = _ident(props[key], f"properties.{key}")
        for key in ("created_at", "updated_at"):
            if props.get(key) is not None:
                props[key] = normalize.isoformat(_convert(f"properties.{key}", normalize.timestamp, props[key]))
    if name in PRODUCT_EVENTS or name == "product_viewed":
        product_id = _ident(props.get("product_id"), "properties.product_id")
        if not product_id:
            raise _fail("properties.product_id", "is required")
        props["product_id"] = product_id
        _money_prop(props, "price")
        if "categories" in props:
            props["categories"] = _categories(props["categories"], "properties.categories")
        if "in_stock" in props and props["in_stock"] is not None and not isinstance(props["in_stock"], bool):
            raise _fail("properties.in_stock", "must be true or false")
    if name == "survey_answered" and props.get("score") is not None:
        score = props["score"]
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
            raise _fail("properties.score", "must be a whole number from 0 to 10")
    return props


def parse_event(raw: Any, default_source: str = "api") -> Event:
    """Validate one Event API v1 object and return it normalised.

    Raises EventError naming the first bad field, e.g. "contact.email: not an email address".
    """
    if not isinstance(raw, Mapping):
        raise EventError("event: must be a JSON object")
    unknown = set(raw) - _ENVELOPE_KEYS
    if unknown:
        raise _fail(sorted(unknown)[0], f"unknown field (allowed: {', '.join(sorted(_ENVELOPE_KEYS))})")
    try:
        kind = EventType(raw.get("type"))
    except ValueError as exc:
        raise _fail("type", "must be 'track' or 'identify'") from exc
    name = _ident(raw.get("event"), "event")
    if kind is EventType.TRACK and not name:
        raise _fail("event", "is required for track events")
    if kind is EventType.IDENTIFY:
        name = None
    message_id = _ident(raw.get("message_id"), "message_id")
    if not message_id:
        raise _fail("message_id", "is required (a unique id per event)")
    if raw.get("timestamp") is None:
        raise _fail("timestamp", "is required")
    when = _convert("timestamp", normalize.timestamp, raw["timestamp"])
    anonymous_id = _ident(raw.get("anonymous_id"), "anonymous_id")
    contact = _parse_contact(raw.get("contact"))
    if name not in CONTACTLESS_EVENTS and not (anonymous_id or contact.email or contact.phone or contact.external_id):
        raise _fail("contact", "needs an email, a phone, an external_id or an anonymous_id")
    source = _ident(raw.get("source"), "source") or default_source
    properties = _parse_properties(name or "identify", raw.get("properties"))
    return Event(
        type=kind,
        event=name,
        message_id=message_id,
        timestamp=when,
        anonymous_id=anonymous_id,
        contact=contact,
        properties=properties,
        source=source,
    )


def contact_to_dict(contact: ContactInfo) -> dict[str, Any]:
    """Serialise a ContactInfo to the Event API's ``contact`` object (absent fields left out)."""
    out: dict[str, Any] = {}
    for name, value in contact.given().items():
        out[name] = value.isoformat() if isinstance(value, date) else value
    if contact.external_id is not UNSET:
        out["external_id"] = contact.external_id
    if contact.consent:
        out["consent"] = {channel.value: granted for channel, granted in contact.consent.items()}
    if contact.attributes:
        out["attributes"] = dict(contact.attributes)
    return out


def event_to_dict(event: Event) -> dict[str, Any]:
    """Serialise an Event to its Event API v1 JSON object."""
    out: dict[str, Any] = {
        "type": event.type.value,
        "message_id": event.message_id,
        "timestamp": normalize.isoformat(event.timestamp),
        "source": event.source,
        "contact": contact_to_dict(event.contact),
        "properties": dict(event.properties),
    }
    if event.event:
        out["event"] = event.event
    if event.anonymous_id:
        out["anonymous_id"] = event.anonymous_id
    return out


def _line_items(raw: Iterable[Mapping[str, Any]]) -> tuple[LineItem, ...]:
    return tuple(
        LineItem(
            product_id=item.get("product_id"),
            variant_id=item.get("variant_id"),
            sku=item.get("sku"),
            name=item.get("name"),
            quantity=int(item.get("quantity", 1)),
            price=Decimal(str(item.get("price", "0"))),
            brand=item.get("brand"),
            categories=tuple(item.get("categories") or ()),
            url=item.get("url"),
            image_url=item.get("image_url"),
        )
        for item in raw
    )


def _items_total(items: tuple[LineItem, ...]) -> Decimal:
    return sum((item.price * item.quantity for item in items), Decimal("0"))


def order_of(event: Event) -> Order:
    """Return the Order an order_placed / order_updated event describes."""
    props = event.properties
    items = _line_items(props.get("items") or ())
    created = props.get("created_at")
    updated = props.get("updated_at")
    return Order(
        order_id=props["order_id"],
        number=props.get("number"),
        status=OrderStatus(props["status"]),
        currency=props["currency"],
        total=Decimal(props["total"]),
        items=items,
        created_at=normalize.timestamp(created) if created else event.timestamp,
        updated_at=normalize.timestamp(updated) if updated else event.timestamp,
        cart_id=props.get("cart_id"),
    )


def cart_of(event: Event) -> Cart:
    """Return the Cart a cart_updated / checkout_started event describes."""
    props = event.properties
    items = _line_items(props.get("items") or ())
    total = Decimal(props["total"]) if props.get("total") is not None else _items_total(items)
    return Cart(
        cart_id=props["cart_id"],
        currency=props.get("currency"),
        total=total,
        items=items,
        updated_at=event.timestamp,
        recovery_url=props.get("recovery_url"),
    )


def product_of(event: Event) -> Product:
    """Return the Product a product_updated / product_viewed event describes."""
    props = event.properties
    price = props.get("price")
    return Product(
        product_id=props["product_id"],
        sku=props.get("sku"),
        name=props.get("name"),
        brand=props.get("brand"),
        categories=tuple(props.get("categories") or ()),
        price=Decimal(price) if price is not None else None,
        currency=props.get("currency"),
        in_stock=props.get("in_stock"),
        url=props.get("url"),
        image_url=props.get("image_url"),
        updated_at=event.timestamp,
        cross_sell_ids=tuple(str(i) for i in props.get("cross_sell_ids") or ()),
    )


@dataclass(frozen=True)
class BadLine:
    """A line of an events file that could not be used."""

    line: int
    reason: str


def read_events(lines: TextIO | Iterable[str], default_source: str = "import") -> Iterator[Event | BadLine]:
    """Yield an Event or a BadLine per meaningful line of a JSON Lines file.

    Blank lines and lines starting with ``#`` are skipped.
    """
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            yield BadLine(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            yield parse_event(raw, default_source=default_source)
        except EventError as exc:
            yield BadLine(number, str(exc))


def json_default(value: Any) -> Any:
    """``json.dumps`` default for the model's types (Decimal, datetime, date, Enum)."""
    if isinstance(value, Decimal):
        return normalize.money_str(value)
    if isinstance(value, datetime):
        return normalize.isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    raise TypeError(f"cannot serialise {type(value).__name__}")
