"""PrestaShop webservice records -> Event API v1 events (pure: no I/O, no clock).

Each function takes one record exactly as the webservice sends it (see
``connectors.prestashop.values`` for the shapes it accepts), plus what the
connector looked up for it (the customer, the address, the shop's reference
data), and returns validated events or raises ``RecordError`` / ``EventError``
with a reason that names no person. Only the fields Relance needs are read:
``passwd``, ``secure_key``, ``reset_password_token`` and the like are never
copied anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from babel.numbers import get_currency_precision

from connectors.prestashop.lookups import Lookups, ProductInfo, ShopContext
from connectors.prestashop.values import (
    RecordError,
    amount,
    association,
    association_ids,
    flag,
    ident,
    local_time,
    modified_at,
    optional_local_time,
    require_id,
    text,
    whole,
)
from core import normalize
from core.events import parse_event, shown
from core.model import Event, OrderStatus, Platform

SOURCE = Platform.PRESTASHOP.value


def message_id(resource: str, record_id: str, when: datetime, suffix: str = "") -> str:
    """``prestashop:<resource>:<id>:<modified time>``: the same state fetched twice is a duplicate."""
    extra = f":{suffix}" if suffix else ""
    return f"{SOURCE}:{resource}:{record_id}{extra}:{normalize.isoformat(when)}"


def _event(raw: dict[str, Any]) -> Event:
    raw["source"] = SOURCE
    return parse_event(raw, default_source=SOURCE)


# --- contacts -----------------------------------------------------------------


def best_address(addresses: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The address to take phone, country and city from: not deleted, most recently changed."""

    def rank(address: Mapping[str, Any]) -> tuple[bool, str, int]:
        found = ident(address.get("id")) or ""
        return (
            not flag(address.get("deleted")),
            str(address.get("date_upd") or ""),
            int(found) if found.isdigit() else 0,
        )

    candidates = [a for a in addresses if isinstance(a, Mapping)]
    return max(candidates, key=rank) if candidates else None


def _address_fields(address: Mapping[str, Any] | None, lookups: Lookups) -> dict[str, Any]:
    """phone (mobile first), country and city of an address; absent when the shop has none."""
    if address is None:
        return {}
    out: dict[str, Any] = {}
    country = lookups.countries.get(ident(address.get("id_country")) or "")
    if country:
        out["country"] = country
    city = text(address.get("city"))
    if city:
        out["city"] = city
    phone = text(address.get("phone_mobile")) or text(address.get("phone"))
    if phone:
        out["phone"] = phone
    return out


def _birthday(value: Any) -> str | None:
    try:
        found = normalize.birthday(value)
    except ValueError:
        return None  # a mistyped birthday must not cost us the customer
    return found.isoformat() if found else None


def customer_events(
    record: Mapping[str, Any], addresses: Iterable[Mapping[str, Any]], lookups: Lookups, ctx: ShopContext
) -> list[Event]:
    """``identify`` events for one ``customers`` record (guests included).

    The profile event is timed at ``date_upd``. A newsletter subscription with
    its ``newsletter_date_add`` becomes a second event timed at that choice; a
    customer who had subscribed (the date is kept) and now has ``newsletter``
    "0" is recorded as an opt-out. ``optin`` (partner offers) is an attribute,
    not a consent to our e-mails. A customer ``deleted`` in the shop becomes an
    e-mail opt-out with ``deleted`` set and nothing else.
    """
    customer_id = require_id(record)
    updated = modified_at(record, ctx.timezone)
    guest = flag(record.get("is_guest"))
    email = record.get("email")
    identity: dict[str, Any] = {"email": email}
    if not guest:
        identity["external_id"] = customer_id
    if flag(record.get("deleted")):
        contact = {**identity, "consent": {"email": False}, "attributes": {"deleted": True}}
        return [_identify(customer_id, updated, contact)]

    contact: dict[str, Any] = dict(identity)
    for name, key in (("first_name", "firstname"), ("last_name", "lastname")):
        value = text(record.get(key))
        if value:
            contact[name] = value
    birthday = _birthday(record.get("birthday"))
    if birthday:
        contact["birthday"] = birthday
    contact.update(_address_fields(best_address(addresses), lookups))
    locale = lookups.languages.get(ident(record.get("id_lang")) or "")
    if locale:
        contact["locale"] = locale
    attributes: dict[str, Any] = {"guest": guest, "partner_offers": flag(record.get("optin"))}
    gender = lookups.genders.get(ident(record.get("id_gender")) or "")
    if gender:
        attributes["gender"] = gender
    group = lookups.groups.get(ident(record.get("id_default_group")) or "")
    if group:
        attributes["customer_group"] = group
    contact["attributes"] = attributes

    events = []
    subscribed = flag(record.get("newsletter"))
    subscribed_at = optional_local_time(record.get("newsletter_date_add"), ctx.timezone)
    if subscribed and subscribed_at is not None:
        consent = {**identity, "consent": {"email": True}}
        events.append(_identify(customer_id, subscribed_at, consent, suffix="newsletter"))
    elif subscribed:
        contact["consent"] = {"email": True}
    elif subscribed_at is not None:
        contact["consent"] = {"email": False}  # subscribed once, unsubscribed since
    events.insert(0, _identify(customer_id, updated, contact))
    return events


def _identify(customer_id: str, when: datetime, contact: dict[str, Any], suffix: str = "") -> Event:
    return _event(
        {
            "type": "identify",
            "message_id": message_id("customers", customer_id, when, suffix),
            "timestamp": when,
            "contact": contact,
        }
    )


def _valid_email(value: Any) -> str | None:
    """The e-mail, or None when it is not one: an order must not be lost to a mistyped address."""
    try:
        return normalize.email(value)
    except ValueError:
        return None


def order_contact(
    record: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    address: Mapping[str, Any] | None,
    lookups: Lookups,
) -> dict[str, Any]:
    """The buyer of an order or a cart: e-mail from the customer, the rest from the address.

    ``external_id`` is set when the buyer has an account (not a guest), or when
    the customer record is gone and only its id is left.
    """
    customer_id = ident(record.get("id_customer"))
    contact: dict[str, Any] = {}
    if customer is not None:
        email = _valid_email(customer.get("email"))
        if email:
            contact["email"] = email
        if not flag(customer.get("is_guest")) and customer_id:
            contact["external_id"] = customer_id
    elif customer_id:
        contact["external_id"] = customer_id
    if not contact:
        raise RecordError("no usable customer (no valid e-mail and no account)")
    source = address if address is not None else customer
    if source is not None:
        for name, key in (("first_name", "firstname"), ("last_name", "lastname")):
            value = text(source.get(key))
            if value:
                contact[name] = value
    contact.update(_address_fields(address, lookups))
    return contact


# --- products -----------------------------------------------------------------


def product_url(ctx: ShopContext, product_id: str) -> str:
    """A product link that works with and without friendly URLs (the shop redirects to the canonical one)."""
    return f"{ctx.url}/index.php?controller=product&id_product={product_id}"


def image_url(ctx: ShopContext, image_id: str | None) -> str | None:
    """The original image file: PrestaShop splits the image id into folders (12 -> img/p/1/2/12.jpg)."""
    if not image_id or not image_id.isdigit():
        return None
    return f"{ctx.url}/img/p/{'/'.join(image_id)}/{image_id}.jpg"


def product_info(record: Mapping[str, Any], lookups: Lookups, ctx: ShopContext) -> ProductInfo:
    """What orders, carts and ``product_updated`` need from a ``products`` record."""
    product_id = require_id(record)
    brand = text(record.get("manufacturer_name")) or lookups.manufacturers.get(
        ident(record.get("id_manufacturer")) or ""
    )
    category_ids = association_ids(record, "categories")
    default = ident(record.get("id_category_default"))
    if default in category_ids:
        category_ids.remove(default)
        category_ids.insert(0, default)
    categories = tuple(lookups.categories[c] for c in category_ids if c in lookups.categories)
    price = record.get("price")
    return ProductInfo(
        product_id=product_id,
        name=text(record.get("name"), ctx.language_id),
        sku=text(record.get("reference")),
        brand=brand,
        categories=categories,
        price=None if price is None or str(price).strip() == "" else amount(price, "price"),
        url=product_url(ctx, product_id),
        image_url=image_url(ctx, ident(record.get("id_default_image"))),
    )


def product_event(record: Mapping[str, Any], stock: int | None, lookups: Lookups, ctx: ShopContext) -> Event:
    """``product_updated`` for one ``products`` record; ``stock`` from ``stock_availables`` when known.

    ``in_stock`` is false for a product that is inactive or not available for
    order, else whether its stock is above zero (unknown without stock data).
    """
    info = product_info(record, lookups, ctx)
    updated = modified_at(record, ctx.timezone)
    # A field left out means 0: PrestaShop leaves zero fields out of single-record answers.
    available = flag(record.get("active")) and flag(record.get("available_for_order"))
    in_stock: bool | None = (stock > 0 if stock is not None else None) if available else False
    properties: dict[str, Any] = {
        "product_id": info.product_id,
        "sku": info.sku,
        "name": info.name,
        "brand": info.brand,
        "categories": list(info.categories),
        "price": info.price,
        "currency": ctx.currency,
        "in_stock": in_stock,
        "url": info.url,
        "image_url": info.image_url,
        "cross_sell_ids": association_ids(record, "accessories"),
    }
    return _event(
        {
            "type": "track",
            "event": "product_updated",
            "message_id": message_id("products", info.product_id, updated),
            "timestamp": updated,
            "properties": properties,
        }
    )


def _item(
    product_id: str, variant: Any, quantity: int, price: Decimal, name: Any, sku: Any, info: ProductInfo | None
) -> dict[str, Any]:
    return {
        "product_id": product_id,
        "variant_id": ident(variant),
        "sku": text(sku) or (info.sku if info else None),
        "name": text(name) or (info.name if info else None),
        "quantity": quantity,
        "price": price,  # a Decimal: parse_event writes it as the store keeps it
        "brand": info.brand if info else None,
        "categories": list(info.categories) if info else [],
        "url": info.url if info else None,
        "image_url": info.image_url if info else None,
    }


# --- orders -------------------------------------------------------------------


def currency_places(currency: str | None) -> Decimal:
    """The smallest unit of a currency as a Decimal exponent (EUR: 0.01, JPY: 1), from CLDR via babel."""
    digits = get_currency_precision(currency) if currency else 2
    return Decimal(1).scaleb(-digits)


def order_items(record: Mapping[str, Any], lookups: Lookups, currency: str | None = None) -> list[dict[str, Any]]:
    """One item per ``order_rows`` row (PrestaShop has one row per product or combination,
    so nothing is counted twice); the price is the unit price paid, tax included, rounded to the
    currency's precision (PrestaShop 8.1 stores ``22.944000`` for 19.12 + 20 % VAT)."""
    items = []
    for row in association(record, "order_rows"):
        product_id = ident(row.get("product_id"))
        if product_id is None:
            raise RecordError("order row without product_id")
        price = row.get("unit_price_tax_incl")
        if price is None:
            price = row.get("product_price", "0")
        items.append(
            _item(
                product_id,
                row.get("product_attribute_id"),
                whole(row.get("product_quantity"), 1),
                amount(price, "order_rows.unit_price_tax_incl").quantize(
                    currency_places(currency), rounding=ROUND_HALF_UP
                ),
                row.get("product_name"),
                row.get("product_reference"),
                lookups.products.get(product_id),
            )
        )
    return items


def order_event(
    record: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    address: Mapping[str, Any] | None,
    lookups: Lookups,
    ctx: ShopContext,
) -> Event:
    """``order_placed`` for one ``orders`` record (the store makes it ``order_updated`` when known).

    The status comes from the shop's own ``order_states`` (looked up by
    ``current_state``; an unknown state is pending), the total is
    ``total_paid_tax_incl`` and the currency the ``id_currency``'s ISO code.
    """
    order_id = require_id(record)
    updated = modified_at(record, ctx.timezone)
    created = local_time(record.get("date_add"), ctx.timezone) or updated
    currency_id = ident(record.get("id_currency"))
    currency = lookups.currencies.get(currency_id or "")
    if not currency:
        raise RecordError(f"unknown currency id {shown(currency_id)}")  # shown: one line, cut
    status = lookups.order_states.get(ident(record.get("current_state")) or "", OrderStatus.PENDING)
    total = record.get("total_paid_tax_incl")
    if total is None or str(total).strip() == "":
        total = record.get("total_paid")
    properties = {
        "order_id": order_id,
        "number": text(record.get("reference")) or order_id,
        "status": status.value,
        "currency": currency,
        "total": amount(total, "total_paid_tax_incl"),
        "items": order_items(record, lookups, currency),
        # datetimes and Decimals rather than their texts: parse_event checks and writes them once
        "created_at": created,
        "updated_at": updated,
    }
    cart_id = ident(record.get("id_cart"))
    if cart_id:
        properties["cart_id"] = cart_id
    return _event(
        {
            "type": "track",
            "event": "order_placed",
            "message_id": message_id("orders", order_id, updated),
            "timestamp": updated,
            "contact": order_contact(record, customer, address, lookups),
            "properties": properties,
        }
    )


# --- carts --------------------------------------------------------------------


def recovery_url(ctx: ShopContext) -> str:
    """The shop's checkout: PrestaShop gives the logged-in customer back their last open cart."""
    return f"{ctx.url}/index.php?controller=order"


def cart_event(record: Mapping[str, Any], customer: Mapping[str, Any], lookups: Lookups, ctx: ShopContext) -> Event:
    """``cart_updated`` for one open ``carts`` record of a known customer.

    Prices come from the products (tax excluded, as the shop's catalogue gives
    them); rows of products the shop no longer has are left out. An empty
    ``items`` list means the customer emptied the cart.
    """
    cart_id = require_id(record)
    updated = modified_at(record, ctx.timezone)
    items = []
    for row in association(record, "cart_rows"):
        product_id = ident(row.get("id_product"))
        info = lookups.products.get(product_id or "")
        if product_id is None or info is None:
            continue
        price = info.price if info.price is not None else Decimal("0")
        items.append(
            _item(product_id, row.get("id_product_attribute"), whole(row.get("quantity"), 1), price, None, None, info)
        )
    total = sum((Decimal(item["price"]) * item["quantity"] for item in items), Decimal("0"))
    currency = lookups.currencies.get(ident(record.get("id_currency")) or "") or ctx.currency
    return _event(
        {
            "type": "track",
            "event": "cart_updated",
            "message_id": message_id("carts", cart_id, updated),
            "timestamp": updated,
            "contact": order_contact(record, customer, None, lookups),
            "properties": {
                "cart_id": cart_id,
                "currency": currency,
                "total": normalize.money_str(total),
                "items": items,
                "recovery_url": recovery_url(ctx),
            },
        }
    )
