"""Reading Magento 2 REST values: ids, UTC times, exact money, plain text (pure).

Magento's output rules (shared/PLATFORMS.md §2.3): a null field is left out
when its getter is nullable; money and quantities are JSON numbers; flags are
0/1 integers on orders and booleans on quotes; some ids are strings; times are
``"YYYY-MM-DD HH:MM:SS"`` in UTC without a zone; dates of birth
``"YYYY-MM-DD"`` (``"YYYY-MM-DD 00:00:00"`` on orders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core import normalize
from core.errors import EventError
from core.events import parse_event
from core.limits import LIMITS
from core.model import Event, Platform
from core.tenants import TenantConfig

SOURCE = Platform.MAGENTO.value
DEFAULT_BRAND_ATTRIBUTE = "manufacturer"
DEFAULT_URL_SUFFIX = ".html"


class MappingError(ValueError):
    """A Magento payload cannot be turned into an event (the message names the record id, never personal data)."""


@dataclass(frozen=True)
class MagentoContext:
    """What the mapping needs to know about the shop.

    ``currency`` is the shop currency for products (Magento products carry
    none); ``url_suffix`` is the catalog's product URL suffix (Stores >
    Configuration > Catalog > Catalog > Search Engine Optimization, ".html"
    by default); ``brand_attribute`` the product attribute holding the brand.
    """

    store_url: str
    currency: str = "EUR"
    url_suffix: str = DEFAULT_URL_SUFFIX
    brand_attribute: str = DEFAULT_BRAND_ATTRIBUTE

    @classmethod
    def from_tenant(cls, config: TenantConfig) -> MagentoContext:
        suffix = config.sync.product_url_suffix
        return cls(
            store_url=config.url.rstrip("/"),
            currency=config.currency,
            url_suffix=DEFAULT_URL_SUFFIX if suffix is None else suffix,
            brand_attribute=config.sync.brand_attribute or DEFAULT_BRAND_ATTRIBUTE,
        )

    @property
    def media_url(self) -> str:
        return f"{self.store_url}/media/catalog/product"


def record_id(payload: Any, key: str, kind: str) -> str:
    """The record's id as a string; MappingError when the payload has none."""
    if not isinstance(payload, Mapping):
        raise MappingError(f"{kind}: payload is not a JSON object")
    raw = payload.get(key)
    if isinstance(raw, bool) or raw in (None, "", 0, "0") or isinstance(raw, dict | list):
        raise MappingError(f"{kind}: payload has no {key}")
    if len(str(raw).strip()) > LIMITS.ident or not str(raw).strip().isprintable():
        raise MappingError(f"{kind}: {key} is not an id (a number or up to {LIMITS.ident} characters)")
    return str(raw).strip()


def listed(value: Any) -> list[Any]:
    """A list field, or [] when the payload has none (or something else there)."""
    return value if isinstance(value, list) else []


def utc_time(value: Any, record: str, field: str) -> datetime | None:
    """A Magento time (UTC, no zone) as an aware datetime; None when absent or zero."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    try:
        return normalize.timestamp(value, UTC)
    except ValueError as exc:
        raise MappingError(f"{record}: {field}: {exc}") from exc


def modified_at(payload: Mapping[str, Any], record: str) -> datetime:
    """When a record last changed: ``updated_at``, else ``created_at``; MappingError if neither."""
    when = utc_time(payload.get("updated_at"), record, "updated_at") or utc_time(
        payload.get("created_at"), record, "created_at"
    )
    if when is None:
        raise MappingError(f"{record}: has neither updated_at nor created_at")
    return when


def text(value: Any) -> str | None:
    """Plain text (HTML entities decoded, tags removed); None for blanks and non-text."""
    if type(value) is str:
        return normalize.plain_text(value)
    if value is None or isinstance(value, bool | dict | list):
        return None
    return normalize.plain_text(value)


def ident(value: Any) -> str | None:
    """An id as a string; Magento uses 0 and "0" for "none"."""
    if type(value) is int:
        return str(value) if value else None
    if value is None or isinstance(value, bool | dict | list) or value in (0, "0", ""):
        return None
    return str(value).strip() or None


def flag(value: Any) -> bool | None:
    """A Magento flag (true/false, 1/0, "1"/"0"); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if str(value).strip() in ("1", "true"):
        return True
    if str(value).strip() in ("0", "false", ""):
        return False
    return None


def money(value: Any, record: str, field: str) -> Decimal:
    try:
        return normalize.money(value)
    except ValueError as exc:
        raise MappingError(f"{record}: {field}: {exc}") from exc


def money_or_none(value: Any, record: str, field: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return money(value, record, field)


def quantity(value: Any, record: str, field: str) -> Decimal:
    """A quantity as an exact Decimal (Magento sends 1, 2.5 or "1.0000")."""
    if value is None or isinstance(value, bool):
        return Decimal(1)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MappingError(f"{record}: {field} is not a number") from exc
    if not number.is_finite() or number < 0:
        raise MappingError(f"{record}: {field} is not a quantity")
    return number


def email_or_none(value: Any) -> str | None:
    """A usable email, or None: a mistyped one must not cost us the record."""
    try:
        return normalize.email(value) if isinstance(value, str) else None
    except ValueError:
        return None


def country_or_none(value: Any) -> str | None:
    try:
        return normalize.country(value) if isinstance(value, str) else None
    except ValueError:
        return None


def birthday_or_none(value: Any) -> date | None:
    """A date of birth ("1990-02-28" or "1990-02-28 00:00:00"); None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return normalize.birthday(value)
    except ValueError:
        return None


def message_id(resource: str, record: str, modified: datetime) -> str:
    """``magento:<resource>:<id>:<modified ISO>``: the same state fetched twice is a duplicate."""
    return f"{SOURCE}:{resource}:{record}:{normalize.isoformat(modified)}"


def address_contact(address: Any) -> dict[str, Any]:
    """Names, phone, country and city of a Magento address (customer, order or quote address)."""
    if not isinstance(address, Mapping):
        return {}
    contact: dict[str, Any] = {}
    for key, field in (("first_name", "firstname"), ("last_name", "lastname"), ("city", "city")):
        value = text(address.get(field))
        if value:
            contact[key] = value
    country = country_or_none(address.get("country_id"))
    if country:
        contact["country"] = country
    phone = address.get("telephone")
    if isinstance(phone, str | int) and not isinstance(phone, bool) and str(phone).strip():
        contact["phone"] = str(phone).strip()  # parsed (and dropped if invalid) by parse_event with the country
    return contact


def build_event(raw: dict[str, Any], record: str) -> Event:
    """Validate an Event API object built by the mapping; MappingError naming the record if it is refused."""
    try:
        return parse_event(raw, default_source=SOURCE)
    except EventError as exc:
        raise MappingError(f"{record}: {exc}") from exc
