"""What a message shows: the contact, products, cart and order, as values for its template.

``core.messages.store.content.load`` reads them from the store for an outbox
row; the previews build them from sample data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

MAX_PRODUCTS = 12


@dataclass(frozen=True)
class ContactView:
    contact_id: int
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    country: str | None = None
    city: str | None = None
    email_consent: bool | None = None
    sms_consent: bool | None = None


@dataclass(frozen=True)
class ProductView:
    product_id: str | None
    name: str | None
    price: Decimal | None
    currency: str | None = None
    url: str | None = None
    image_url: str | None = None
    quantity: int = 1


@dataclass(frozen=True)
class CartView:
    url: str | None
    total: Decimal
    currency: str | None
    item_count: int


@dataclass(frozen=True)
class OrderView:
    number: str | None
    total: Decimal
    currency: str
    created_at: datetime


@dataclass(frozen=True)
class Content:
    contact: ContactView
    products: tuple[ProductView, ...] = ()
    cart: CartView | None = None
    order: OrderView | None = None
    coupon: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
