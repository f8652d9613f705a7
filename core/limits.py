"""What the store can hold: the one table of limits every input is checked against.

An event that passes ``core.events.parse_event`` must be storable as it is, on
SQLite and on PostgreSQL: the parser refuses, naming the field, what a column
would refuse later (a string longer than its ``varchar``, a quantity past
``integer``, an amount past ``NUMERIC(18, 4)``, a NUL character PostgreSQL
cannot keep in text or JSON). The lengths and ranges below are read once from
the columns that receive each value (``core.store.schema``), so a column that
changes moves its limit with it; the few limits no column dictates (dates, URLs,
JSON depth) are the Event API's own and say why.

=====================  ==========================================  =========
value                  column(s)                                   limit
=====================  ==========================================  =========
message_id             events.message_id, consents.message_id      200 chars
event name             events.name                                 100 chars
source                 events.source, consents.source              40 chars
ids (order, cart,      orders/carts/products.external_id,          200 chars
product, external_id,  *_items.product_id/variant_id/sku, ...
anonymous_id, sku)
email                  contacts.email, contact_identities.value    320 chars
names, city            contacts.first_name/last_name/city          200 chars
product / line name    products.name, *_items.name                 500 chars
brand                  products.brand, *_items.brand               200 chars
quantity, cart count   *_items.quantity, carts.item_count          2147483647
amounts                NUMERIC(18, 4) (SQLite: a double, 15        < 10^11,
                       exact digits)                               4 places
URLs                   text (Event API limit)                      2000 chars
category, attribute    JSON (Event API limit)                      200 chars
times                  timestamptz (Event API limit)               1900 to 2999
JSON properties        jsonb (Event API limit)                     depth 32
=====================  ==========================================  =========
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.store.schema import (
    cart_items,
    carts,
    consents,
    contact_identities,
    contacts,
    events,
    order_items,
    orders,
    products,
)

if TYPE_CHECKING:
    from sqlalchemy import Column

#: The largest value of each integer column type (PostgreSQL's; SQLite's integers are wider).
_INTEGER_MAX = {"SmallInteger": 2**15 - 1, "Integer": 2**31 - 1, "BigInteger": 2**63 - 1}
#: Significant digits SQLite keeps exactly in a NUMERIC column: it stores a decimal as a double (DBL_DIG).
_SQLITE_NUMERIC_DIGITS = 15


def _length(*columns: Column[Any]) -> int:
    """The longest string every one of ``columns`` holds."""
    return min(column.type.length for column in columns)  # type: ignore[attr-defined]


def _integer_max(*columns: Column[Any]) -> int:
    return min(_INTEGER_MAX[type(column.type).__name__] for column in columns)


def _numeric(column: Column[Any]) -> tuple[int, int]:
    """(precision, scale) of a NUMERIC column (Money wraps one)."""
    numeric = getattr(column.type, "impl_instance", column.type)
    return numeric.precision, numeric.scale


@dataclass(frozen=True)
class Limits:
    """The largest (or earliest and latest) value of each kind the store holds; see the module's table."""

    message_id: int
    event_name: int
    source: int
    ident: int
    email: int
    person_name: int
    product_name: int
    brand: int
    quantity: int
    money_digits: int
    money_places: int
    url: int
    label: int
    earliest: datetime
    latest: datetime
    json_depth: int

    @property
    def money_max(self) -> Decimal:
        """Amounts must be strictly smaller than this in magnitude (once rounded to ``money_places``): 10^11."""
        return Decimal(10) ** (self.money_digits - self.money_places)

    @property
    def money_quantum(self) -> Decimal:
        """The smallest step of a stored amount (``Decimal("0.0001")``)."""
        return Decimal(1).scaleb(-self.money_places)


def _derive() -> Limits:
    precision, money_places = _numeric(orders.c.total)
    for column in (order_items.c.unit_price, cart_items.c.unit_price, carts.c.total, products.c.price):
        if _numeric(column) != (precision, money_places):
            raise AssertionError(f"{column}: every amount column must have the same precision")
    # PostgreSQL holds NUMERIC(18, 4) exactly; SQLite turns it into a double, exact to 15 digits.
    money_digits = min(precision, _SQLITE_NUMERIC_DIGITS)
    return Limits(
        message_id=_length(events.c.message_id, consents.c.message_id),
        event_name=_length(events.c.name),
        source=_length(events.c.source, consents.c.source),
        ident=_length(
            orders.c.external_id,
            orders.c.number,
            orders.c.cart_id,
            carts.c.external_id,
            products.c.external_id,
            products.c.sku,
            order_items.c.product_id,
            order_items.c.variant_id,
            order_items.c.sku,
            cart_items.c.product_id,
            cart_items.c.variant_id,
            cart_items.c.sku,
            contact_identities.c.value,
        ),
        email=_length(contacts.c.email, contact_identities.c.value),
        person_name=_length(contacts.c.first_name, contacts.c.last_name, contacts.c.city),
        product_name=_length(products.c.name, order_items.c.name, cart_items.c.name),
        brand=_length(products.c.brand, order_items.c.brand, cart_items.c.brand),
        quantity=_integer_max(order_items.c.quantity, cart_items.c.quantity, carts.c.item_count),
        money_digits=money_digits,
        money_places=money_places,
        # No column limits these: a URL past 2000 characters is refused by browsers and
        # mail clients alike, and a label (category, attribute) is a short name.
        url=2000,
        label=200,
        # Python's datetime stops at year 9999 and the flows add waits to times: a window
        # of plausible times keeps every sum in range (birthdays have their own rule).
        earliest=datetime(1900, 1, 1, tzinfo=UTC),
        latest=datetime(3000, 1, 1, tzinfo=UTC),
        # Properties are small documents; a deeper one is a mistake or an attack, and
        # serialising it (json, jsonb) recurses once per level.
        json_depth=32,
    )


LIMITS = _derive()
