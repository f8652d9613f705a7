"""The shared model: what every part of Relance speaks, whatever the platform.

Values are frozen dataclasses. Money is ``Decimal`` with an ISO 4217 currency,
times are timezone-aware UTC, emails are trimmed and lower-cased, phones are
E.164. Parsing and normalising raw input lives in ``core.normalize``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final


class Platform(str, Enum):
    WOOCOMMERCE = "woocommerce"
    MAGENTO = "magento"
    PRESTASHOP = "prestashop"


class OrderStatus(str, Enum):
    PENDING = "pending"
    PAID = "paid"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    FAILED = "failed"

    @property
    def is_revenue(self) -> bool:
        """True for the statuses that count as money spent (paid, completed)."""
        return self in (OrderStatus.PAID, OrderStatus.COMPLETED)


REVENUE_STATUSES: Final = (OrderStatus.PAID.value, OrderStatus.COMPLETED.value)


class Channel(str, Enum):
    EMAIL = "email"
    SMS = "sms"


class EventType(str, Enum):
    TRACK = "track"
    IDENTIFY = "identify"


class _Unset:
    """Marks a contact field that an event does not mention (absent changes nothing)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = _Unset()

CONTACT_FIELDS: Final = (
    "email",
    "phone",
    "first_name",
    "last_name",
    "birthday",
    "country",
    "city",
    "locale",
    "timezone",
)


@dataclass(frozen=True)
class ContactInfo:
    """What an event says about a contact.

    A field left ``UNSET`` was absent and changes nothing; ``None`` clears it.
    ``external_id`` is the contact's id in the event's source platform.
    ``consent`` maps a channel to opt-in (True) or opt-out (False).
    ``attributes`` are custom properties, merged key by key (None removes a key).
    """

    email: str | None | _Unset = UNSET
    phone: str | None | _Unset = UNSET
    first_name: str | None | _Unset = UNSET
    last_name: str | None | _Unset = UNSET
    birthday: date | None | _Unset = UNSET
    country: str | None | _Unset = UNSET
    city: str | None | _Unset = UNSET
    locale: str | None | _Unset = UNSET
    timezone: str | None | _Unset = UNSET
    external_id: str | None | _Unset = UNSET
    consent: Mapping[Channel, bool] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)

    def given(self) -> dict[str, Any]:
        """Return the profile fields the event mentions (set or cleared)."""
        return {name: getattr(self, name) for name in CONTACT_FIELDS if getattr(self, name) is not UNSET}


@dataclass(frozen=True)
class LineItem:
    """One line of an order or a cart. ``price`` is the unit price."""

    product_id: str | None
    name: str | None
    quantity: int
    price: Decimal
    variant_id: str | None = None
    sku: str | None = None
    brand: str | None = None
    categories: tuple[str, ...] = ()
    url: str | None = None
    image_url: str | None = None


@dataclass(frozen=True)
class Order:
    order_id: str
    status: OrderStatus
    currency: str
    total: Decimal
    items: tuple[LineItem, ...]
    created_at: datetime
    updated_at: datetime
    number: str | None = None
    cart_id: str | None = None


@dataclass(frozen=True)
class Cart:
    cart_id: str
    currency: str | None
    total: Decimal
    items: tuple[LineItem, ...]
    updated_at: datetime
    recovery_url: str | None = None


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str | None
    updated_at: datetime
    sku: str | None = None
    brand: str | None = None
    categories: tuple[str, ...] = ()
    price: Decimal | None = None
    currency: str | None = None
    in_stock: bool | None = None
    url: str | None = None
    image_url: str | None = None
    cross_sell_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """One Event API v1 event, validated and normalised (see shared/EVENTS.md).

    ``properties`` are JSON-ready (money as decimal strings); use
    ``core.events.order_of`` / ``cart_of`` / ``product_of`` for typed views.
    ``source`` says where it came from: a platform name, ``tracker``, ``api``,
    ``import``, ``relance`` (our own emails), ``simulation``.
    """

    type: EventType
    message_id: str
    timestamp: datetime
    contact: ContactInfo
    event: str | None = None
    anonymous_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    source: str = "api"

    @property
    def name(self) -> str:
        """The event name; ``identify`` for identify events."""
        return self.event if self.type is EventType.TRACK and self.event else "identify"
