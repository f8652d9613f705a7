"""Event API v1: parse, validate, normalise and serialise events (shared/EVENTS.md).

``parse_event`` turns one JSON object into an ``Event`` or raises ``EventError``
naming the bad field; ``event_to_dict`` is its inverse. ``read_events`` reads a
JSON Lines file, reporting bad lines by number without stopping.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, BinaryIO, TextIO

from core import normalize
from core.errors import EventError
from core.limits import LIMITS
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
#: The contact attribute set on a phone kept although libphonenumber does not know it as valid.
PHONE_UNVERIFIED = "phone_unverified"
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
MAX_ID_LENGTH = LIMITS.ident
#: A JSON integer with more digits is no id, count or amount anyone sends (and Python's own limit is 4300).
_MAX_INT_DIGITS = 100
_PLAIN_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


#: Where a value sits: a field path, or (where its parent sits, its key or index), spelt out only for an error.
_Path = str | tuple[Any, str | int]


def _where(path: _Path) -> str:
    if isinstance(path, str):
        return path
    parent, key = path
    return f"{_where(parent)}[{key}]" if isinstance(key, int) else f"{_where(parent)}.{shown(key)}"


def _fail(path: _Path, reason: str) -> EventError:
    return EventError(f"{_where(path)}: {reason}")


def shown(key: Any) -> str:
    """A key as it can appear in an error message: itself when short and plain, else a cut repr.

    Messages are one line and name fields, so a key from the payload must not
    bring its line breaks or its length into them.
    """
    text = key if isinstance(key, str) else repr(key)
    if _PLAIN_KEY_RE.match(text):
        return text
    return repr(text[:40]) + ("..." if len(text) > 40 else "")


_INT_BOUND = 10**_MAX_INT_DIGITS


def _big_int(value: int) -> bool:
    # Compared as numbers: str() of a huge int is slow, and refused past 4300 digits.
    return abs(value) >= _INT_BOUND


def _text(value: Any, path: _Path, max_length: int = LIMITS.product_name) -> str | None:
    if value is None:
        return None
    if type(value) is str:  # the common case first: this runs on every text of every event
        text = value.strip()
        if len(text) > max_length:
            raise _fail(path, f"is longer than {max_length} characters")
        if not (text.isascii() and "\x00" not in text):  # normalize.unstorable's own fast path, without the call
            problem = normalize.unstorable(text)
            if problem:
                raise _fail(path, problem)
        return text or None
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _fail(path, "must be a string")
    if isinstance(value, int) and value.bit_length() > max_length * 4:
        raise _fail(path, f"is longer than {max_length} characters")
    text = str(value).strip()
    if len(text) > max_length:
        raise _fail(path, f"is longer than {max_length} characters")
    problem = normalize.unstorable(text)
    if problem:
        raise _fail(path, problem)
    return text or None


def _ident(value: Any, path: _Path, max_length: int = MAX_ID_LENGTH) -> str | None:
    return _text(value, path, max_length)


def _convert(path: _Path, func: Any, value: Any) -> Any:
    try:
        return func(value)
    except ValueError as exc:
        raise _fail(path, str(exc)) from exc


def _moment(value: Any, path: _Path) -> datetime | None:
    """A time in the window the store keeps (``LIMITS.earliest`` to ``LIMITS.latest``); None for a blank or zero date."""
    if type(value) is datetime:  # a connector's own parsed time: no text to check
        when = _convert(path, normalize.timestamp, value)
        if not LIMITS.earliest <= when < LIMITS.latest:
            raise _fail(
                path, f"is out of range (from {LIMITS.earliest.year} to {LIMITS.latest.year - 1}; check the year)"
            )
        return when
    if isinstance(value, bool) or not isinstance(value, str | datetime):
        raise _fail(path, "must be an ISO 8601 date and time such as 2026-11-23T10:15:00Z")
    if isinstance(value, str):
        if len(value) > 64:
            raise _fail(path, "not an ISO 8601 date and time")
        if normalize.unstorable(value):
            raise _fail(path, "not an ISO 8601 date and time")
    when = _convert(path, normalize.timestamp, value)
    if when is not None and not LIMITS.earliest <= when < LIMITS.latest:
        raise _fail(path, f"is out of range (from {LIMITS.earliest.year} to {LIMITS.latest.year - 1}; check the year)")
    return when


def _amount(value: Any, path: _Path) -> str:
    """An amount as the decimal string the store keeps: rounded half-even to 4 places; EventError when it is none.

    Rounded here rather than by the database, so that the event log, SQLite
    and PostgreSQL hold the same value (PostgreSQL rounds half away from zero,
    SQLite through a double). The range is that of the rounded amount.
    """
    kind = type(value)
    # The common cases, remembered: a shop's prices come back on line after line. Not floats and not
    # zero Decimals: 0.0 == -0.0 and Decimal("0") == Decimal("-0") would share an entry, not a text.
    if (kind is str and len(value) <= 100) or (kind is Decimal and value and value.is_finite()) or kind is int:
        if kind is int and _big_int(value):
            raise _fail(path, normalize.AMOUNT_OUT_OF_RANGE)
        return _convert(path, _amount_text, value)
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise _fail(path, 'must be an amount such as "49.90"')
    if isinstance(value, int) and _big_int(value):
        raise _fail(path, normalize.AMOUNT_OUT_OF_RANGE)
    if isinstance(value, str) and len(value) > 100:
        raise _fail(path, "not an amount")
    return normalize.money_str(_convert(path, normalize.amount, value))


@lru_cache(maxsize=4096, typed=True)
def _amount_text(value: str | int | Decimal) -> str:
    """``normalize.amount`` of a value as its decimal string (a bounded LRU; ValueError is not remembered)."""
    return normalize.money_str(normalize.amount(value))


def _json(value: Any, path: _Path, depth: int = 0) -> Any:
    """Check that a JSON value (properties, attributes) can be stored as it is; return it.

    Refuses NUL characters and lone surrogates (in keys too), non-finite
    numbers, integers of more than 100 digits, non-string keys, other Python
    types and nesting deeper than ``LIMITS.json_depth``.
    """
    # Dispatched on the exact type first, and paths spelt out only for an error:
    # this runs on every value of every event.
    kind = type(value)
    if kind is str or (kind is not bool and isinstance(value, str)):
        problem = normalize.unstorable(value)
        if problem:
            raise _fail(path, problem)
        return value
    if value is None or kind is bool:
        return value
    if kind is int or isinstance(value, int):
        if _big_int(value):
            raise _fail(path, f"number with more than {_MAX_INT_DIGITS} digits")
        return value
    if kind is float:
        if not math.isfinite(value):
            raise _fail(path, "must be a finite number (not NaN or Infinity)")
        return value
    if depth >= LIMITS.json_depth:
        raise _fail(path, f"is nested deeper than {LIMITS.json_depth} levels")
    if kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                raise _fail((path, key), "keys must be strings")
            problem = normalize.unstorable(key)
            if problem:
                raise _fail((path, key), f"the key {problem}")
            _json(item, (path, key), depth + 1)
        return value
    if kind is list or isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _json(item, (path, index), depth + 1)
        return value
    raise _fail(path, f"must be a JSON value (not {kind.__name__})")


_EVENT_TYPES: dict[Any, EventType] = {kind.value: kind for kind in EventType}
_ORDER_STATUSES: dict[Any, OrderStatus] = {status.value: status for status in OrderStatus}


def _member(members: dict[Any, Any], value: Any) -> Any:
    """What ``Enum(value)`` gives (a member's value or the member itself), or None, by a dict look-up:
    an Enum call costs a microsecond, on every event."""
    try:
        return members.get(value)
    except TypeError:  # unhashable: no member
        return None


def _is_object(value: Any) -> bool:
    """``isinstance(value, Mapping)``, with a dict (what JSON and the mappings make) told without the ABC check."""
    return type(value) is dict or isinstance(value, Mapping)


def _string(value: Any, path: _Path, what: str) -> Any:
    """``value`` when it is a string or None (normalisers take it from there); EventError naming ``what`` otherwise."""
    if value is not None and not isinstance(value, str):
        raise _fail(path, f"must be {what}")
    return value


def _parse_contact(raw: Any) -> ContactInfo:
    if raw is None:
        return ContactInfo()
    if not _is_object(raw):
        raise _fail("contact", "must be an object")
    if not _CONTACT_KEYS.issuperset(raw):
        unknown = set(raw) - _CONTACT_KEYS
        key = sorted(unknown, key=str)[0]
        raise _fail(f"contact.{shown(key)}", f"unknown field (allowed: {', '.join(sorted(_CONTACT_KEYS))})")
    values: dict[str, Any] = {}
    country = UNSET
    if "country" in raw:
        value = _string(raw["country"], "contact.country", "a country code such as FR")
        country = values["country"] = _convert("contact.country", normalize.country, value)
    for name in ("first_name", "last_name", "city"):
        if name in raw:
            values[name] = _text(raw[name], f"contact.{name}", LIMITS.person_name)
    if "email" in raw:
        value = _string(raw["email"], "contact.email", "an email address (a string)")
        values["email"] = _convert("contact.email", normalize.email, value)
    unverified_phone = False
    if "phone" in raw:
        region = country if isinstance(country, str) else None
        try:
            values["phone"] = normalize.phone(raw["phone"], region)
        except ValueError:
            # A mistyped phone must not cost us the order or the signup that carries it: it is left
            # out, and the contact keeps the phone it had. One of the right length that
            # libphonenumber does not know as valid is kept, flagged (attribute phone_unverified).
            possible = normalize.possible_phone(raw["phone"], region)
            if possible is not None:
                values["phone"], unverified_phone = possible, True
    if "birthday" in raw:
        value = raw["birthday"]
        if not isinstance(value, date):
            value = _string(value, "contact.birthday", "a date such as 1990-02-28")
        values["birthday"] = _convert("contact.birthday", normalize.birthday, value)
    if "locale" in raw:
        value = _string(raw["locale"], "contact.locale", "a locale such as fr_FR")
        values["locale"] = _convert("contact.locale", normalize.locale, value)
    if "timezone" in raw:
        value = _string(raw["timezone"], "contact.timezone", "an IANA time zone such as Europe/Paris")
        values["timezone"] = _convert("contact.timezone", normalize.timezone, value)
    if "external_id" in raw:
        values["external_id"] = _ident(raw["external_id"], "contact.external_id")
    consent: dict[Channel, bool] = {}
    raw_consent = raw.get("consent") or {}
    if not _is_object(raw_consent):
        raise _fail("contact.consent", 'must be an object such as {"email": true}')
    for key, granted in raw_consent.items():
        try:
            channel = Channel(key)
        except ValueError as exc:
            raise _fail(f"contact.consent.{shown(key)}", "unknown channel (allowed: email, sms)") from exc
        if granted is None:
            continue
        if not isinstance(granted, bool):
            raise _fail(f"contact.consent.{key}", "must be true or false")
        consent[channel] = granted
    attributes = raw.get("attributes") or {}
    if not _is_object(attributes):
        raise _fail("contact.attributes", "must be an object")
    _json(attributes, "contact.attributes")
    attributes = dict(attributes)
    if unverified_phone:
        attributes[PHONE_UNVERIFIED] = True
    return ContactInfo(consent=consent, attributes=attributes, **values)


def _quantity(value: Any, path: _Path) -> int:
    """A line's quantity: a whole number from 0 to ``LIMITS.quantity`` (integer columns)."""
    if type(value) is int and 0 <= value <= LIMITS.quantity:  # the common case
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _fail(path, "must be a whole number")
    if isinstance(value, int):
        number = value
    else:
        if isinstance(value, str) and len(value) > 50:
            raise _fail(path, "must be a whole number")
        try:
            exact = Decimal(str(value).strip())
        except ArithmeticError as exc:
            raise _fail(path, "must be a whole number") from exc
        if not exact.is_finite() or exact != exact.to_integral_value():
            raise _fail(path, "must be a whole number, 0 or more")
        if abs(exact) > LIMITS.quantity:
            raise _fail(path, f"is out of range (at most {LIMITS.quantity})")
        number = int(exact)
    if number < 0:
        raise _fail(path, "must be a whole number, 0 or more")
    if number > LIMITS.quantity:
        raise _fail(path, f"is out of range (at most {LIMITS.quantity})")
    return number


def _parse_items(raw: Any, path: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, "must be a list")
    items = []
    for index, item in enumerate(raw):
        where = (path, index)  # spelt out only for an error
        if not _is_object(item):
            raise _fail(where, "must be an object")
        get = item.get
        # Fields a line leaves out (or sets to null) are None without a call: this runs on every line.
        brand, categories, url, image_url = get("brand"), get("categories"), get("url"), get("image_url")
        items.append(
            {
                "product_id": _ident(get("product_id"), (where, "product_id")),
                "variant_id": _ident(get("variant_id"), (where, "variant_id")),
                "sku": _ident(get("sku"), (where, "sku")),
                "name": _text(get("name"), (where, "name"), LIMITS.product_name),
                "quantity": _quantity(get("quantity", 1), (where, "quantity")),
                "price": _amount(get("price", "0"), (where, "price")),
                "brand": None if brand is None else _text(brand, (where, "brand"), LIMITS.brand),
                "categories": [] if categories is None else _categories(categories, (where, "categories")),
                "url": None if url is None else _text(url, (where, "url"), LIMITS.url),
                "image_url": None if image_url is None else _text(image_url, (where, "image_url"), LIMITS.url),
            }
        )
    return items


def _categories(raw: Any, path: _Path) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise _fail(path, "must be a list of names")
    names = []
    for index, name in enumerate(raw):
        text = _text(name, (path, index), LIMITS.label)
        if text:
            names.append(text)
    return names


def _ids(raw: Any, path: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _fail(path, "must be a list of ids")
    found = []
    for index, value in enumerate(raw):
        ident = _ident(value, f"{path}[{index}]")
        if ident:
            found.append(ident)
    return found


def _money_prop(props: dict[str, Any], key: str, required: bool = False) -> None:
    if key not in props or props[key] is None:
        if required:
            raise _fail(f"properties.{key}", "is required")
        return
    props[key] = _amount(props[key], f"properties.{key}")


def _check_cart_sums(items: list[dict[str, Any]], total: Any) -> None:
    """The cart row keeps the number of items and, without a total, their sum: both must fit their columns."""
    if sum(item["quantity"] for item in items) > LIMITS.quantity:
        raise _fail("properties.items", f"the quantities add up to more than {LIMITS.quantity}")
    if total is None:
        computed = sum((Decimal(item["price"]) * item["quantity"] for item in items), Decimal(0))
        if abs(computed) >= LIMITS.money_max:
            raise _fail("properties.items", f"the items add up to an {normalize.AMOUNT_OUT_OF_RANGE}")


#: The properties ``_parse_properties`` sets itself per event name, from values it checked (``_json_except``).
_CHECKED_ANY = frozenset({"currency"})
_CHECKED_CART = _CHECKED_ANY | {"items", "total", "cart_id", "recovery_url"}
_CHECKED_ORDER = _CHECKED_ANY | {
    "items",
    "total",
    "order_id",
    "status",
    "number",
    "cart_id",
    "created_at",
    "updated_at",
}
_CHECKED_PRODUCT = _CHECKED_ANY | {
    "product_id",
    "price",
    "sku",
    "name",
    "brand",
    "url",
    "image_url",
    "categories",
    "cross_sell_ids",
    "in_stock",
}
_CHECKED: dict[str, frozenset[str]] = {
    **dict.fromkeys(CART_EVENTS, _CHECKED_CART),
    **dict.fromkeys(ORDER_EVENTS, _CHECKED_ORDER),
    **dict.fromkeys(PRODUCT_EVENTS | {"product_viewed"}, _CHECKED_PRODUCT),
    "survey_answered": _CHECKED_ANY | {"score"},
}


def _parse_properties(name: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not _is_object(raw):
        raise _fail("properties", "must be an object")
    props = dict(raw)
    if "currency" in props:
        value = _string(props["currency"], "properties.currency", "a currency code such as EUR")
        props["currency"] = _convert("properties.currency", normalize.currency, value)
    if name in CART_EVENTS or name in ORDER_EVENTS:
        props["items"] = _parse_items(props.get("items"), "properties.items")
        _money_prop(props, "total")
    if name in CART_EVENTS:
        cart_id = _ident(props.get("cart_id"), "properties.cart_id")
        if not cart_id:
            raise _fail("properties.cart_id", "is required")
        props["cart_id"] = cart_id
        if "recovery_url" in props:
            props["recovery_url"] = _text(props["recovery_url"], "properties.recovery_url", LIMITS.url)
        _check_cart_sums(props["items"], props.get("total"))
    if name in ORDER_EVENTS:
        order_id = _ident(props.get("order_id"), "properties.order_id")
        if not order_id:
            raise _fail("properties.order_id", "is required")
        props["order_id"] = order_id
        status = props.get("status", "pending")
        known = _member(_ORDER_STATUSES, status)
        if known is None:
            allowed = ", ".join(s.value for s in OrderStatus)
            raise _fail("properties.status", f"unknown order status {shown(status)} (allowed: {allowed})")
        props["status"] = known.value
        if not props.get("currency"):
            raise _fail("properties.currency", "is required for orders")
        if props.get("total") is None:
            raise _fail("properties.total", "is required for orders")
        for key in ("number", "cart_id"):
            if key in props:
                props[key] = _ident(props[key], f"properties.{key}")
        for key in ("created_at", "updated_at"):
            if props.get(key) is not None:
                props[key] = normalize.isoformat(_moment(props[key], f"properties.{key}"))
    if name in PRODUCT_EVENTS or name == "product_viewed":
        product_id = _ident(props.get("product_id"), "properties.product_id")
        if not product_id:
            raise _fail("properties.product_id", "is required")
        props["product_id"] = product_id
        _money_prop(props, "price")
        for key, limit in (("sku", LIMITS.ident), ("name", LIMITS.product_name), ("brand", LIMITS.brand)):
            if key in props:
                props[key] = _text(props[key], f"properties.{key}", limit)
        for key in ("url", "image_url"):
            if key in props:
                props[key] = _text(props[key], f"properties.{key}", LIMITS.url)
        if "categories" in props:
            props["categories"] = _categories(props["categories"], "properties.categories")
        if "cross_sell_ids" in props:
            props["cross_sell_ids"] = _ids(props["cross_sell_ids"], "properties.cross_sell_ids")
        if "in_stock" in props and props["in_stock"] is not None and not isinstance(props["in_stock"], bool):
            raise _fail("properties.in_stock", "must be true or false")
    if name == "survey_answered" and props.get("score") is not None:
        score = props["score"]
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
            raise _fail("properties.score", "must be a whole number from 0 to 10")
    checked = _CHECKED.get(name, _CHECKED_ANY)
    _json_except(props, checked)
    return props


def _json_except(props: dict[str, Any], checked: frozenset[str]) -> None:
    """``_json(props, "properties")`` without walking again the values ``_parse_properties`` made itself
    (``checked``: strings it checked, lists of them, the items): they hold nothing ``_json`` refuses, so
    the first error, if any, is the same."""
    for key, value in props.items():
        if type(key) is not str:
            raise _fail(("properties", key), "keys must be strings")
        problem = normalize.unstorable(key)
        if problem:
            raise _fail(("properties", key), f"the key {problem}")
        if key not in checked:
            _json(value, ("properties", key), 1)


def parse_event(raw: Any, default_source: str = "api") -> Event:
    """Validate one Event API v1 object and return it normalised, storable as it is.

    Raises EventError naming the first bad field and why, e.g. "contact.email:
    not an email address" or "properties.total: amount out of range (...)";
    the message never quotes the value. Values the store cannot hold (see
    ``core.limits``) are refused here, never by the database.
    """
    if not _is_object(raw):
        raise EventError("event: must be a JSON object")
    if not _ENVELOPE_KEYS.issuperset(raw):
        unknown = set(raw) - _ENVELOPE_KEYS
        key = sorted(unknown, key=str)[0]
        raise _fail(shown(key), f"unknown field (allowed: {', '.join(sorted(_ENVELOPE_KEYS))})")
    kind = _member(_EVENT_TYPES, raw.get("type"))
    if kind is None:
        raise _fail("type", "must be 'track' or 'identify'")
    name = _ident(raw.get("event"), "event", LIMITS.event_name)
    if kind is EventType.TRACK and not name:
        raise _fail("event", "is required for track events")
    if kind is EventType.IDENTIFY:
        name = None
    message_id = _ident(raw.get("message_id"), "message_id", LIMITS.message_id)
    if not message_id:
        raise _fail("message_id", "is required (a unique id per event)")
    when = _moment(raw.get("timestamp"), "timestamp") if raw.get("timestamp") is not None else None
    if when is None:
        raise _fail("timestamp", "is required (an ISO 8601 time such as 2026-11-23T10:15:00Z; not a zero date)")
    anonymous_id = _ident(raw.get("anonymous_id"), "anonymous_id")
    contact = _parse_contact(raw.get("contact"))
    if name not in CONTACTLESS_EVENTS and not (anonymous_id or contact.email or contact.phone or contact.external_id):
        raise _fail("contact", "needs an email, a phone, an external_id or an anonymous_id")
    source = _ident(raw.get("source"), "source", LIMITS.source) or default_source
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


def _decoded(line: str | bytes, number: int) -> str | BadLine:
    if isinstance(line, str):
        return line
    try:
        # A byte order mark some editors write at the start of a UTF-8 file is not part of the first line.
        return line.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as exc:
        return BadLine(
            number, f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8"
        )


def read_events(
    lines: TextIO | BinaryIO | Iterable[str] | Iterable[bytes], default_source: str = "import"
) -> Iterator[Event | BadLine]:
    """Yield an Event or a BadLine per meaningful line of a JSON Lines file (see ``read_numbered_events``)."""
    for _number, item in read_numbered_events(lines, default_source):
        yield item


def read_numbered_events(
    lines: TextIO | BinaryIO | Iterable[str] | Iterable[bytes], default_source: str = "import"
) -> Iterator[tuple[int, Event | BadLine]]:
    """Yield (line number, Event or BadLine) per meaningful line of a JSON Lines file.

    Lines may be text or bytes (decoded as UTF-8 one by one, so that one line
    in another encoding is reported and the others are read). Blank lines and
    lines starting with ``#`` are skipped.
    """
    for number, line in enumerate(lines, start=1):
        decoded = _decoded(line, number)
        if isinstance(decoded, BadLine):
            yield number, decoded
            continue
        text = decoded.strip()
        if not text or text.startswith("#"):
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, BadLine(number, f"invalid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            yield number, BadLine(number, "invalid JSON (nested too deeply)")
            continue
        except ValueError:  # an integer of more than 4300 digits
            yield number, BadLine(number, "invalid JSON (a number is too long)")
            continue
        try:
            yield number, parse_event(raw, default_source=default_source)
        except EventError as exc:
            yield number, BadLine(number, str(exc))


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
