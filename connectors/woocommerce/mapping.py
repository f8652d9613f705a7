"""WooCommerce REST v3 payloads -> Event API v1 events (pure: no I/O, no clock).

Webhook bodies are exactly the REST resource, so the webhooks area calls these
functions on delivery bodies too. Every function raises ``MappingError`` (with
the record id, never personal data) when a payload cannot be turned into an
event; callers log, skip and count it.

Rules (see shared/PLATFORMS.md §1 and §4):

- Times come from the ``*_gmt`` fields (UTC without an offset); the site-local
  field is read in the tenant's time zone only when the ``_gmt`` one is missing.
- Money is exact: strings and JSON numbers (float or Decimal) go through
  ``core.normalize.money``; a line's unit price is ``total / quantity`` in
  Decimal (WooCommerce's own ``price`` is a float), rounded to 4 places only
  when the division does not end.
- Names are HTML-unescaped (WordPress stores ``A &amp; B``); emails are
  lower-cased by the Event API.
- Order statuses map onto the six of the Event API (``ORDER_STATUSES``, from
  WooCommerce's real list); a tenant maps its plugins' own statuses with
  ``sync.order_statuses``; any other unknown status is ``paid`` when the order
  has a payment date and ``pending`` otherwise.
- A ``checkout-draft`` order (the block checkout creates one as soon as a
  visitor reaches checkout and types an email) is a cart, not an order: it
  becomes ``cart_updated`` with the cart id ``order-draft-<id>``; when the
  draft becomes an order, the order names that cart, which is then converted.
- Only what Relance uses is kept: no meta_data besides the birthday key, no
  IP, user agent, payment tokens or addresses beyond country and city.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from connectors.woocommerce.birthday import parse_birthday
from core import normalize
from core.errors import EventError
from core.events import parse_event
from core.limits import LIMITS
from core.model import Event, OrderStatus, Platform
from core.tenants import TenantConfig

SOURCE = Platform.WOOCOMMERCE.value

#: What a ``checkout-draft`` (or a status a tenant maps to ``cart``) becomes: a cart, not an order.
CART = "cart"
#: WooCommerce order status (without ``wc-``) -> Event API order status, or ``CART``. WooCommerce 10's
#: own list: pending, processing, on-hold, completed, cancelled, refunded, failed, checkout-draft
#: (plus trash for a trashed order, and draft / auto-draft for an order an admin is still creating).
ORDER_STATUSES: dict[str, OrderStatus | str] = {
    "pending": OrderStatus.PENDING,
    "on-hold": OrderStatus.PENDING,
    "checkout-draft": CART,
    "draft": OrderStatus.PENDING,
    "auto-draft": OrderStatus.PENDING,
    "new": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,
    "ready-for-pickup": OrderStatus.PAID,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "trash": OrderStatus.CANCELLED,
    "refunded": OrderStatus.REFUNDED,
    "failed": OrderStatus.FAILED,
}
_UNIT_PRICE_PLACES = Decimal("0.0001")


class MappingError(ValueError):
    """A WooCommerce payload cannot be turned into an event (the message names the record id)."""


@dataclass(frozen=True)
class WooContext:
    """What the mapping needs to know about the shop.

    ``timezone`` reads site-local dates when a ``_gmt`` date is missing;
    ``currency`` is the shop currency for products (WooCommerce products carry
    none); ``birthday_meta_key`` is the customer meta key a plugin stores the
    birthday under (None: birthdays are not read).
    """

    store_url: str
    timezone: str = "UTC"
    currency: str = "EUR"
    birthday_meta_key: str | None = None
    #: The tenant's own statuses (``sync.order_statuses``): WooCommerce status -> Event API status or "cart".
    order_statuses: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_tenant(cls, config: TenantConfig) -> WooContext:
        return cls(
            store_url=config.url,
            timezone=config.timezone,
            currency=config.currency,
            birthday_meta_key=config.sync.birthday_meta_key,
            order_statuses=dict(config.sync.order_statuses or {}),
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# --- small helpers ----------------------------------------------------------------------------


def _record_id(payload: Mapping[str, Any], kind: str) -> str:
    if not isinstance(payload, Mapping):
        raise MappingError(f"{kind}: payload is not a JSON object")
    raw = payload.get("id")
    if isinstance(raw, bool) or raw in (None, "", 0, "0"):
        raise MappingError(f"{kind}: payload has no id")
    if not isinstance(raw, int | str) or len(str(raw)) > LIMITS.ident or not str(raw).isprintable():
        raise MappingError(f"{kind}: payload id is not an id (a number or up to {LIMITS.ident} characters)")
    return str(raw)


def _when(payload: Mapping[str, Any], field: str, ctx: WooContext, record: str) -> datetime | None:
    """The UTC time of ``field`` from ``field_gmt``, else ``field`` in the shop's time zone."""
    try:
        gmt = normalize.timestamp(payload.get(f"{field}_gmt"), UTC)
        if gmt is not None:
            return gmt
        return normalize.timestamp(payload.get(field), ctx.tz)
    except ValueError as exc:
        raise MappingError(f"{record}: {field}: {exc}") from exc


def _modified(payload: Mapping[str, Any], ctx: WooContext, record: str) -> datetime:
    when = _when(payload, "date_modified", ctx, record) or _when(payload, "date_created", ctx, record)
    if when is None:
        raise MappingError(f"{record}: has neither date_modified nor date_created")
    return when


def modified_at(payload: Mapping[str, Any], ctx: WooContext) -> datetime:
    """When a record last changed (UTC): ``date_modified_gmt``, else ``date_created_gmt``; MappingError if neither."""
    return _modified(payload, ctx, f"record {payload.get('id')}")


def created_at(payload: Mapping[str, Any], ctx: WooContext) -> datetime | None:
    """When a record was created (UTC), or None when the payload does not say."""
    return _when(payload, "date_created", ctx, f"record {payload.get('id')}")


def _list(value: Any) -> list[Any]:
    """A list field, or [] when the payload has none (or something else there)."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    if type(value) is str:
        return normalize.plain_text(value)
    if value is None or isinstance(value, bool | dict | list):
        return None
    return normalize.plain_text(value)


def _ident(value: Any) -> str | None:
    """An id as a string; WooCommerce uses 0 (and sometimes "") for "none"."""
    if type(value) is int:
        return str(value) if value else None
    if value is None or isinstance(value, bool) or value in (0, "0", ""):
        return None
    return str(value).strip() or None


def _money(value: Any, record: str, field: str) -> Decimal:
    try:
        return normalize.money(value)
    except ValueError as exc:
        raise MappingError(f"{record}: {field}: {exc}") from exc


def _email_or_none(value: Any) -> str | None:
    """A usable email, or None: a mistyped billing email must not cost us the order."""
    try:
        return normalize.email(value)
    except ValueError:
        return None


def _country_or_none(value: Any) -> str | None:
    try:
        return normalize.country(value)
    except ValueError:
        return None


def message_id(resource: str, record_id: str, modified: datetime) -> str:
    """``woocommerce:<resource>:<id>:<modified ISO>``: the same state fetched twice is a duplicate."""
    return f"{SOURCE}:{resource}:{record_id}:{normalize.isoformat(modified)}"


def _event(raw: dict[str, Any], record: str) -> Event:
    try:
        return parse_event(raw, default_source=SOURCE)
    except EventError as exc:
        raise MappingError(f"{record}: {exc}") from exc


def _contact_from_address(address: Any, email: Any = None) -> dict[str, Any]:
    """Contact fields from a billing address (names plain, phone parsed with the country)."""
    address = address if isinstance(address, Mapping) else {}
    contact: dict[str, Any] = {}
    mail = _email_or_none(email if email is not None else address.get("email"))
    if mail:
        contact["email"] = mail
    for key in ("first_name", "last_name", "city"):
        value = _text(address.get(key))
        if value:
            contact[key] = value
    country = _country_or_none(address.get("country"))
    if country:
        contact["country"] = country
    phone = address.get("phone")
    if isinstance(phone, str) and phone.strip():
        contact["phone"] = phone.strip()  # parsed (and dropped if invalid) by parse_event with the country
    return contact


# --- orders -----------------------------------------------------------------------------------


def status_name(value: Any) -> str:
    """A WooCommerce status as WooCommerce names it in the REST API (lower case, without ``wc-``)."""
    raw = str(value or "").strip().lower()
    return raw[3:] if raw.startswith("wc-") else raw


def order_status(payload: Mapping[str, Any], custom: Mapping[str, str] | None = None) -> OrderStatus | str:
    """The Event API status of a WooCommerce order, or ``CART`` for a checkout draft.

    ``custom`` (the tenant's ``sync.order_statuses``) comes first; then WooCommerce's own statuses;
    an unknown plugin status is paid if the order has a payment date, else pending.
    """
    raw = status_name(payload.get("status"))
    mapped = (custom or {}).get(raw)
    if mapped is not None:
        return CART if mapped == CART else OrderStatus(mapped)
    if raw in ORDER_STATUSES:
        return ORDER_STATUSES[raw]
    paid = payload.get("date_paid_gmt") or payload.get("date_paid")
    return OrderStatus.PAID if paid else OrderStatus.PENDING


def draft_cart_id(order_id: str) -> str:
    """The cart id of a checkout draft (and of the order it becomes)."""
    return f"order-draft-{order_id}"


def unit_price(total: Decimal, quantity: int) -> Decimal:
    """``total / quantity`` exactly, rounded to 4 places only when the division does not end."""
    if quantity <= 0:
        return total
    exact = total / quantity
    rounded = exact.quantize(_UNIT_PRICE_PLACES, rounding=ROUND_HALF_EVEN)
    return exact if exact == rounded else rounded


def _quantity(value: Any, record: str, index: int) -> int:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise MappingError(f"{record}: line_items[{index}].quantity is not a number") from exc
    if not number.is_finite():
        raise MappingError(f"{record}: line_items[{index}].quantity is not a number")
    if number != number.to_integral_value():
        raise MappingError(f"{record}: line_items[{index}].quantity is not a whole number")
    # Refunded lines can show a negative quantity on some stores: the order line still counts as bought.
    return abs(int(number))


def _order_item(item: Any, record: str, index: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise MappingError(f"{record}: line_items[{index}] is not an object")
    quantity = _quantity(item.get("quantity", 1), record, index)
    if item.get("total") not in (None, ""):
        price = unit_price(_money(item["total"], record, f"line_items[{index}].total"), quantity)
    else:
        price = _money(item.get("price", 0), record, f"line_items[{index}].price")
    image = item.get("image") if isinstance(item.get("image"), Mapping) else {}
    return {
        "product_id": _ident(item.get("product_id")),
        "variant_id": _ident(item.get("variation_id")),
        "sku": _text(item.get("sku")),
        # Variations are named "Product – Attr, Attr"; parent_name is the product's own name.
        "name": _text(item.get("name")) or _text(item.get("parent_name")),
        "quantity": quantity,
        "price": price,  # a Decimal: parse_event writes it as the store keeps it
        "image_url": _text(image.get("src")),
    }


def refunded_total(payload: Mapping[str, Any], record: str = "order") -> Decimal:
    """The amount refunded so far (positive), from ``refunds[].total`` which WooCommerce sends negative."""
    refunds = payload.get("refunds") or []
    if not isinstance(refunds, list):
        raise MappingError(f"{record}: refunds is not a list")
    total = Decimal("0")
    for index, refund in enumerate(refunds):
        if isinstance(refund, Mapping) and refund.get("total") not in (None, ""):
            total += abs(_money(refund["total"], record, f"refunds[{index}].total"))
    return total


def map_order(payload: dict[str, Any], ctx: WooContext) -> Event:
    """An ``order_placed`` event for a WooCommerce order (the store makes it ``order_updated`` when known),
    or a ``cart_updated`` event for a checkout draft (``order_status`` is ``CART``).

    The contact comes from the billing details (guest orders too), with the
    customer id as ``external_id`` when the buyer has an account. Raises
    MappingError when the order has no id, no date, bad money, or nothing to
    identify the buyer by.
    """
    order_id = _record_id(payload, "order")
    record = f"order {order_id}"
    modified = _modified(payload, ctx, record)
    created = _when(payload, "date_created", ctx, record) or modified
    lines = payload.get("line_items") or []
    if not isinstance(lines, list):
        raise MappingError(f"{record}: line_items is not a list")
    contact = _contact_from_address(payload.get("billing"))
    customer = _ident(payload.get("customer_id"))
    if customer:
        contact["external_id"] = customer
    if not (contact.get("email") or contact.get("phone") or customer):
        raise MappingError(f"{record}: has no billing email, phone or customer account to attach it to")
    status = order_status(payload, ctx.order_statuses)
    total = _money(payload.get("total"), record, "total")
    items = [_order_item(item, record, index) for index, item in enumerate(lines)]
    if not isinstance(status, OrderStatus):  # CART
        return _draft_cart(order_id, record, modified, contact, payload.get("currency"), total, items, ctx)
    properties: dict[str, Any] = {
        "order_id": order_id,
        "number": _ident(payload.get("number")) or order_id,
        "status": status.value,
        "currency": payload.get("currency"),
        "total": total,
        "items": items,
        # datetimes and Decimals rather than their texts: parse_event checks and writes them once
        "created_at": created,
        "updated_at": modified,
        # the checkout draft this order was (block checkout): that cart is converted, not abandoned
        "cart_id": draft_cart_id(order_id),
    }
    refunded = refunded_total(payload, record)
    if refunded:
        properties["refunded_total"] = normalize.money_str(refunded)
    coupons = [
        str(line["code"]).strip().lower()
        for line in _list(payload.get("coupon_lines"))
        if isinstance(line, Mapping) and line.get("code")
    ]
    if coupons:
        properties["coupons"] = coupons
    return _event(
        {
            "type": "track",
            "event": "order_placed",
            "message_id": message_id("orders", order_id, modified),
            "timestamp": modified,
            "contact": contact,
            "properties": properties,
            "source": SOURCE,
        },
        record,
    )


def _draft_cart(
    order_id: str,
    record: str,
    modified: datetime,
    contact: dict[str, Any],
    currency: Any,
    total: Decimal,
    items: list[dict[str, Any]],
    ctx: WooContext,
) -> Event:
    """The ``cart_updated`` event of a checkout draft: the visitor's cart, with who they said they are."""
    return _event(
        {
            "type": "track",
            "event": "cart_updated",
            "message_id": message_id("orders", order_id, modified),
            "timestamp": modified,
            "contact": contact,
            "properties": {
                "cart_id": draft_cart_id(order_id),
                "currency": currency or ctx.currency,
                "total": total,
                "items": items,
            },
            "source": SOURCE,
        },
        record,
    )


# --- customers --------------------------------------------------------------------------------


def _meta_value(meta: Any, key: str) -> Any:
    if not isinstance(meta, list):
        return None
    for entry in meta:
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return entry.get("value")
    return None


def map_customer(payload: dict[str, Any], ctx: WooContext) -> Event:
    """An ``identify`` event for a WooCommerce customer (a WordPress user with an account).

    Names fall back to the billing names; phone, country and city come from
    the billing address; the birthday from ``meta_data`` under
    ``ctx.birthday_meta_key`` when set (left untouched when absent or unreadable).
    """
    customer_id = _record_id(payload, "customer")
    record = f"customer {customer_id}"
    modified = _modified(payload, ctx, record)
    billing = payload.get("billing") if isinstance(payload.get("billing"), Mapping) else {}
    email = _email_or_none(payload.get("email")) or _email_or_none(billing.get("email"))
    contact = _contact_from_address(billing, email=email or "")
    for key in ("first_name", "last_name"):
        value = _text(payload.get(key))
        if value:
            contact[key] = value
    contact["external_id"] = customer_id
    if ctx.birthday_meta_key:
        birthday = parse_birthday(_meta_value(payload.get("meta_data"), ctx.birthday_meta_key))
        if birthday is not None:
            contact["birthday"] = birthday.isoformat()
    attributes: dict[str, Any] = {}
    role = _text(payload.get("role"))
    if role:
        attributes["role"] = role
    if isinstance(payload.get("is_paying_customer"), bool):
        attributes["paying_customer"] = payload["is_paying_customer"]
    if attributes:
        contact["attributes"] = attributes
    return _event(
        {
            "type": "identify",
            "message_id": message_id("customers", customer_id, modified),
            "timestamp": modified,
            "contact": contact,
            "source": SOURCE,
        },
        record,
    )


# --- products ---------------------------------------------------------------------------------


def _names(terms: Any) -> list[str]:
    if not isinstance(terms, list):
        return []
    names = []
    for term in terms:
        name = _text(term.get("name")) if isinstance(term, Mapping) else None
        if name and name not in names:
            names.append(name)
    return names


def in_stock(payload: Mapping[str, Any]) -> bool:
    """Buyable now: published, not hidden, and in stock or on backorder."""
    if str(payload.get("status") or "publish") != "publish":
        return False
    if payload.get("purchasable") is False:
        return False
    return str(payload.get("stock_status") or "instock") in ("instock", "onbackorder")


def map_product(payload: dict[str, Any], ctx: WooContext) -> list[Event]:
    """``product_updated`` events for a WooCommerce product.

    A simple, grouped, external or variable product gives one event (a
    variable product's price is its lowest variation price, as WooCommerce
    reports it). A variation payload (``type`` "variation", as in the
    ``product.created`` webhooks WooCommerce sends for each variation) gives
    none: orders and recommendations use the parent product, which carries
    the names, categories and brands.
    """
    product_id = _record_id(payload, "product")
    record = f"product {product_id}"
    kind = payload.get("type")
    if kind == "variation" or (kind is None and _ident(payload.get("parent_id"))):
        return []
    modified = _modified(payload, ctx, record)
    images = payload.get("images") if isinstance(payload.get("images"), list) else []
    first_image = images[0] if images and isinstance(images[0], Mapping) else {}
    price = payload.get("price")
    brands = _names(payload.get("brands"))
    properties: dict[str, Any] = {
        "product_id": product_id,
        "sku": _text(payload.get("sku")),
        "name": _text(payload.get("name")),
        "brand": brands[0] if brands else None,
        "categories": _names(payload.get("categories")),
        "tags": _names(payload.get("tags")),
        "price": None if price in (None, "") else _money(price, record, "price"),
        "currency": ctx.currency,
        "in_stock": in_stock(payload),
        "url": _text(payload.get("permalink")),
        "image_url": _text(first_image.get("src")),
        "cross_sell_ids": [str(i) for i in _list(payload.get("cross_sell_ids")) if _ident(i)],
    }
    return [
        _event(
            {
                "type": "track",
                "event": "product_updated",
                "message_id": message_id("products", product_id, modified),
                "timestamp": modified,
                "properties": properties,
                "source": SOURCE,
            },
            record,
        )
    ]
