"""What the PrestaShop mapping is given besides a record: the shop and its reference data (values only)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from decimal import Decimal

from core.model import OrderStatus

#: ``id_gender`` -> gender. PrestaShop installs two titles, 1 (Mr.) and 2 (Mrs.), and its 8.1
#: webservice has no ``genders`` resource to read them from (HTTP 400 "Resource of type genders
#: does not exists"), so the ids are read directly; a title added in the back office is not mapped.
GENDER_IDS = {"1": "male", "2": "female"}


@dataclass(frozen=True)
class ShopContext:
    """What the mapping needs to know about the shop."""

    url: str
    timezone: tzinfo
    language_id: int | None = None
    currency: str = "EUR"


@dataclass(frozen=True)
class ProductInfo:
    """What orders and carts borrow from a product (brand, categories, price, links)."""

    product_id: str
    name: str | None
    sku: str | None
    brand: str | None
    categories: tuple[str, ...]
    price: Decimal | None
    url: str
    image_url: str | None


@dataclass(frozen=True)
class Lookups:
    """The shop's reference data the connector fetched, by PrestaShop id (as strings)."""

    countries: Mapping[str, str] = field(default_factory=dict)  # -> ISO 3166 alpha-2
    currencies: Mapping[str, str] = field(default_factory=dict)  # -> ISO 4217
    languages: Mapping[str, str] = field(default_factory=dict)  # -> locale ("fr_FR")
    genders: Mapping[str, str] = field(default_factory=lambda: dict(GENDER_IDS))  # id_gender -> male / female
    groups: Mapping[str, str] = field(default_factory=dict)  # -> group name
    order_states: Mapping[str, OrderStatus] = field(default_factory=dict)
    manufacturers: Mapping[str, str] = field(default_factory=dict)  # -> brand name
    categories: Mapping[str, str] = field(default_factory=dict)  # -> name (root and home left out)
    products: Mapping[str, ProductInfo] = field(default_factory=dict)
