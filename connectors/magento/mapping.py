"""Magento 2 customers, orders and quotes -> Event API v1 events (pure: no I/O, no clock).

Every function raises ``MappingError`` (with the record id, never personal
data) when a payload cannot become an event; the connector logs, skips and
counts it. Products are in ``connectors.magento.products``.

Rules (shared/PLATFORMS.md §2):

- Orders: a configurable or bundle line is two or more rows; the row without
  ``parent_item_id`` carries the price and the quantity (it is the line), its
  child carries the purchased variant (``product_id``). Lines are counted once.
- Order status comes from ``state`` (``status`` is a label the shop may
  rename): new, pending_payment, payment_review -> pending; holded -> pending
  (paid when fully paid); processing -> paid; complete -> completed; closed ->
  refunded; canceled -> cancelled. A refund of the whole total makes the
  order refunded; a partial one is kept as ``refunded_total``.
- Guests (``customer_is_guest`` 1, no ``customer_id`` key) become contacts
  from their billing address; customers with an account also get their
  Magento id as ``external_id``.
- Quotes: only active ones are open carts; a quote becomes an event once it
  has an email (the customer's, or the address email a guest gives at
  checkout). Magento's cart API gives SKUs but no product ids: the connector
  resolves them (``ProductRefs``) and the mapping uses what it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.magento.values import (
    MagentoContext,
    MappingError,
    address_contact,
    birthday_or_none,
    build_event,
    email_or_none,
    flag,
    ident,
    listed,
    modified_at,
    money,
    money_or_none,
    quantity,
    record_id,
    text,
    utc_time,
)
from connectors.magento.values import message_id as _message_id
from core import normalize
from core.model import Event, OrderStatus

#: Magento order ``state`` -> Event API status.
ORDER_STATES: dict[str, OrderStatus] = {
    "new": OrderStatus.PENDING,
    "pending_payment": OrderStatus.PENDING,
    "payment_review": OrderStatus.PENDING,
    "holded": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,
    "complete": OrderStatus.COMPLETED,
    "closed": OrderStatus.REFUNDED,
    "canceled": OrderStatus.CANCELLED,
}
#: Default ``status`` codes, read only when an order has no ``state``.
ORDER_STATUS_CODES: dict[str, OrderStatus] = {
    **ORDER_STATES,
    "pending": OrderStatus.PENDING,
    "fraud": OrderStatus.PENDING,
    "suspected_fraud": OrderStatus.PENDING,
}
#: Magento's default gender options.
GENDERS = {"1": "male", "2": "female"}


@dataclass(frozen=True)
class ProductRefs:
    """What the connector learnt about products for quote lines: SKU -> id, and a variant's parent id."""

    ids_by_sku: Mapping[str, str] = field(default_factory=dict)
    parent_by_id: Mapping[str, str] = field(default_factory=dict)


# --- customers --------------------------------------------------------------------------------


def _billing_address(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The customer's default billing address (else default shipping), or None."""
    addresses = [a for a in listed(payload.get("addresses")) if isinstance(a, Mapping)]
    for key in ("default_billing", "default_shipping"):
        wanted = ident(payload.get(key))
        for address in addresses:
            if address.get(key) is True or (wanted and ident(address.get("id")) == wanted):
                return address
    return None


def map_customer(payload: Mapping[str, Any], ctx: MagentoContext) -> Event:
    """An ``identify`` event for a Magento customer (``/V1/customers/search``).

    Phone, country and city come from the default billing address; the
    newsletter subscription (``extension_attributes.is_subscribed``, sent by
    Magento 2.4+) is the email consent, timed at the customer's ``updated_at``;
    when Magento does not send it the consent is left as it is.
    """
    customer_id = record_id(payload, "id", "customer")
    record = f"customer {customer_id}"
    modified = modified_at(payload, record)
    contact: dict[str, Any] = address_contact(_billing_address(payload))
    email = email_or_none(payload.get("email"))
    if email:
        contact["email"] = email
    for key, source in (("first_name", "firstname"), ("last_name", "lastname")):
        value = text(payload.get(source))
        if value:
            contact[key] = value
    birthday = birthday_or_none(payload.get("dob"))
    if birthday is not None:
        contact["birthday"] = birthday.isoformat()
    contact["external_id"] = customer_id
    extension = payload.get("extension_attributes")
    if isinstance(extension, Mapping):
        subscribed = flag(extension.get("is_subscribed"))
        if subscribed is not None:
            contact["consent"] = {"email": subscribed}
    attributes: dict[str, Any] = {}
    gender = GENDERS.get(str(payload.get("gender")))
    if gender:
        attributes["gender"] = gender
    group = payload.get("group_id")
    if isinstance(group, int | str) and not isinstance(group, bool) and str(group).strip():
        attributes["customer_group_id"] = str(group).strip()
    if attributes:
        contact["attributes"] = attributes
    return build_event(
        {
            "type": "identify",
            "message_id": _message_id("customers", customer_id, modified),
            "timestamp": modified,
            "contact": contact,
        },
        record,
    )


# --- orders -----------------------------------------------------------------------------------


def order_status(payload: Mapping[str, Any], record: str = "order") -> OrderStatus:
    """The Event API status of a Magento order, from its ``state`` (see the module doc)."""
    state = str(payload.get("state") or "").strip().lower()
    status = ORDER_STATES.get(state)
    if status is None:
        status = ORDER_STATUS_CODES.get(str(payload.get("status") or "").strip().lower())
    total = money_or_none(payload.get("grand_total"), record, "grand_total") or Decimal(0)
    paid = money_or_none(payload.get("total_paid"), record, "total_paid") or Decimal(0)
    refunded = money_or_none(payload.get("total_refunded"), record, "total_refunded") or Decimal(0)
    if status is None:
        status = OrderStatus.PAID if paid > 0 else OrderStatus.PENDING
    if state == "holded" and total > 0 and paid >= total:
        status = OrderStatus.PAID
    if status.is_revenue and total > 0 and refunded >= total:
        status = OrderStatus.REFUNDED
    return status


def _unit(row: Mapping[str, Any], record: str, where: str) -> tuple[int, Decimal]:
    """(quantity, unit price) of an order row; a fractional quantity becomes one unit at the row's price."""
    qty = quantity(row.get("qty_ordered"), record, f"{where}.qty_ordered")
    price = money(row.get("price", 0), record, f"{where}.price")
    if qty == qty.to_integral_value():
        return int(qty), price
    row_total = money_or_none(row.get("row_total"), record, f"{where}.row_total")
    return 1, row_total if row_total is not None else price * qty


def order_lines(payload: Mapping[str, Any], record: str = "order") -> list[dict[str, Any]]:
    """The Event API items of an order: one per row without a parent, the variant from its child."""
    return [{**line, "price": normalize.money_str(line["price"])} for line in _order_lines(payload, record)]


def _order_lines(payload: Mapping[str, Any], record: str) -> list[dict[str, Any]]:
    """``order_lines`` with each price a Decimal, for ``parse_event`` to write once."""
    rows = payload.get("items") or []
    if not isinstance(rows, list):
        raise MappingError(f"{record}: items is not a list")
    parents: dict[str, Mapping[str, Any]] = {}
    children: dict[str, list[Mapping[str, Any]]] = {}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise MappingError(f"{record}: items[{index}] is not an object")
        parent_id = ident(row.get("parent_item_id"))
        if parent_id is None:
            parents.setdefault(ident(row.get("item_id")) or f"#{index}", row)
            continue
        children.setdefault(parent_id, []).append(row)
        embedded = row.get("parent_item")
        if isinstance(embedded, Mapping):
            # A parent that is only embedded (a trimmed answer) still makes the line, once.
            parents.setdefault(parent_id, embedded)
    lines = []
    for key, row in parents.items():
        where = f"items[{key}]"
        qty, price = _unit(row, record, where)
        kids = children.get(key, [])
        variant = None
        if row.get("product_type") == "configurable" and len(kids) == 1:
            variant = ident(kids[0].get("product_id"))
        lines.append(
            {
                "product_id": ident(row.get("product_id")),
                "variant_id": variant,
                # A configurable parent row carries the purchased child's SKU.
                "sku": text(row.get("sku")),
                "name": text(row.get("name")),
                "quantity": qty,
                "price": price,  # a Decimal: parse_event writes it as the store keeps it
            }
        )
    return lines


def _order_address(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    billing = payload.get("billing_address")
    if isinstance(billing, Mapping):
        return billing
    for address in _shipping_addresses(payload):
        return address
    return {}


def _shipping_addresses(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The addresses of ``extension_attributes.shipping_assignments`` (orders and quotes)."""
    extension = payload.get("extension_attributes")
    assignments = extension.get("shipping_assignments") if isinstance(extension, Mapping) else None
    found = []
    for assignment in assignments if isinstance(assignments, list) else []:
        shipping = assignment.get("shipping") if isinstance(assignment, Mapping) else None
        if isinstance(shipping, Mapping) and isinstance(shipping.get("address"), Mapping):
            found.append(shipping["address"])
    return found


def order_contact(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The buyer: billing address (guests too), order email, and the customer id when they have an account."""
    address = _order_address(payload)
    contact = address_contact(address)
    for key, source in (("first_name", "customer_firstname"), ("last_name", "customer_lastname")):
        if key not in contact:
            value = text(payload.get(source))
            if value:
                contact[key] = value
    email = email_or_none(payload.get("customer_email")) or email_or_none(address.get("email"))
    if email:
        contact["email"] = email
    customer = None if flag(payload.get("customer_is_guest")) else ident(payload.get("customer_id"))
    if customer:
        contact["external_id"] = customer
        birthday = birthday_or_none(payload.get("customer_dob"))
        if birthday is not None:
            contact["birthday"] = birthday.isoformat()
    return contact


def map_order(payload: Mapping[str, Any], ctx: MagentoContext) -> Event:
    """An ``order_placed`` event for a Magento order (``/V1/orders``); the store makes it
    ``order_updated`` when the order is known. ``cart_id`` is the order's quote."""
    order_id = record_id(payload, "entity_id", "order")
    record = f"order {order_id}"
    modified = modified_at(payload, record)
    created = utc_time(payload.get("created_at"), record, "created_at") or modified
    contact = order_contact(payload)
    if not (contact.get("email") or contact.get("phone") or contact.get("external_id")):
        raise MappingError(f"{record}: has no email, phone or customer account to attach it to")
    currency = payload.get("order_currency_code") or payload.get("base_currency_code")
    properties: dict[str, Any] = {
        "order_id": order_id,
        "number": ident(payload.get("increment_id")) or order_id,
        "status": order_status(payload, record).value,
        "currency": currency,
        "total": money(payload.get("grand_total"), record, "grand_total"),
        "items": _order_lines(payload, record),
        # datetimes and Decimals rather than their texts: parse_event checks and writes them once
        "created_at": created,
        "updated_at": modified,
    }
    cart = ident(payload.get("quote_id"))
    if cart:
        properties["cart_id"] = cart
    refunded = money_or_none(payload.get("total_refunded"), record, "total_refunded")
    if refunded:
        properties["refunded_total"] = normalize.money_str(refunded)
    coupon = text(payload.get("coupon_code"))
    if coupon:
        properties["coupons"] = [coupon.lower()]
    return build_event(
        {
            "type": "track",
            "event": "order_placed",
            "message_id": _message_id("orders", order_id, modified),
            "timestamp": modified,
            "contact": contact,
            "properties": properties,
        },
        record,
    )


# --- quotes (carts) ---------------------------------------------------------------------------


def _quote_addresses(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    billing = payload.get("billing_address")
    return ([billing] if isinstance(billing, Mapping) else []) + _shipping_addresses(payload)


def cart_email(payload: Mapping[str, Any]) -> str | None:
    """The quote's email: the customer's, else one a guest gave on an address at checkout."""
    customer = payload.get("customer") if isinstance(payload.get("customer"), Mapping) else {}
    email = email_or_none(customer.get("email"))
    if email:
        return email
    for address in _quote_addresses(payload):
        email = email_or_none(address.get("email"))
        if email:
            return email
    return None


def cart_skus(payload: Mapping[str, Any]) -> list[str]:
    """The SKUs of a quote's items (for the connector to resolve to product ids)."""
    return [str(item["sku"]) for item in payload.get("items") or [] if isinstance(item, Mapping) and item.get("sku")]


def _cart_item(item: Any, refs: ProductRefs, record: str, index: int) -> dict[str, Any]:
    where = f"items[{index}]"
    if not isinstance(item, Mapping):
        raise MappingError(f"{record}: {where} is not an object")
    qty = quantity(item.get("qty"), record, f"{where}.qty")
    price = money(item.get("price", 0), record, f"{where}.price")
    if qty != qty.to_integral_value():
        qty, price = Decimal(1), price * qty
    sku = text(item.get("sku"))
    found = refs.ids_by_sku.get(sku) if sku else None
    parent = refs.parent_by_id.get(found) if found else None
    return {
        "product_id": parent or found,
        "variant_id": found if parent else None,
        "sku": sku,
        "name": text(item.get("name")),
        "quantity": int(qty),
        "price": normalize.money_str(price),
    }


def map_cart(payload: Mapping[str, Any], ctx: MagentoContext, refs: ProductRefs | None = None) -> Event | None:
    """A ``cart_updated`` event for an active Magento quote (``/V1/carts/search``), or None when it is
    not an open cart (inactive: converted to an order or dropped) or has no email yet to reach anyone with.

    An active quote with no items is an emptied cart (``items`` []). Magento
    quotes have no totals in this API: the total is the sum of the lines.
    """
    cart_id = record_id(payload, "id", "cart")
    record = f"cart {cart_id}"
    if flag(payload.get("is_active")) is False:
        return None
    email = cart_email(payload)
    if email is None:
        return None
    modified = modified_at(payload, record)
    refs = refs or ProductRefs()
    rows = payload.get("items") or []
    if not isinstance(rows, list):
        raise MappingError(f"{record}: items is not a list")
    items = [_cart_item(item, refs, record, index) for index, item in enumerate(rows)]
    total = sum((Decimal(item["price"]) * item["quantity"] for item in items), Decimal(0))
    currency = payload.get("currency") if isinstance(payload.get("currency"), Mapping) else {}
    code = (
        currency.get("quote_currency_code")
        or currency.get("store_currency_code")
        or currency.get("base_currency_code")
        or ctx.currency
    )
    contact: dict[str, Any] = {"email": email}
    customer = payload.get("customer") if isinstance(payload.get("customer"), Mapping) else {}
    guest = flag(payload.get("customer_is_guest")) or not ident(customer.get("id"))
    if not guest:
        contact["external_id"] = ident(customer.get("id"))
    for key, source in (("first_name", "firstname"), ("last_name", "lastname")):
        value = text(customer.get(source))
        if value:
            contact[key] = value
    return build_event(
        {
            "type": "track",
            "event": "cart_updated",
            "message_id": _message_id("carts", cart_id, modified),
            "timestamp": modified,
            "contact": contact,
            "properties": {"cart_id": cart_id, "currency": code, "total": normalize.money_str(total), "items": items},
        },
        record,
    )
