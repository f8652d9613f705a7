"""Tenants (client shops) and their settings, validated from a plain mapping.

A tenant file (YAML) is read by the CLI and handed here as a dict. Validation
names the bad key and what is allowed; nothing is written until it passes.
Sections that belong to other areas (``flows``, ``segments``, ``tracker``,
``messages``, ``scoring``, ``attribution``) are validated by those areas' own ``validate``
functions, handed in by the caller: ``core.sections`` registers them (this
module imports no area).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from core import normalize
from core.errors import ConfigError
from core.model import Platform

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

CREDENTIAL_KEYS: dict[Platform, dict[str, bool]] = {
    # key -> required
    Platform.WOOCOMMERCE: {"consumer_key": True, "consumer_secret": True, "query_string_auth": False},
    Platform.MAGENTO: {"access_token": True, "store_code": False},
    Platform.PRESTASHOP: {"api_key": True, "language_id": False, "query_string_auth": False},
}
SECRET_KEYS = frozenset({"consumer_key", "consumer_secret", "access_token", "api_key", "webhook_secret", "password"})
#: Endings of the other keys whose values are secrets (``messages.sms.auth_token``...).
SECRET_SUFFIXES = ("_secret", "_token", "_password")


def is_secret(key: Any) -> bool:
    """Whether a tenant setting called ``key`` holds a secret: masked when shown, encrypted at rest."""
    return isinstance(key, str) and (key in SECRET_KEYS or key.endswith(SECRET_SUFFIXES))


@dataclass(frozen=True)
class Sender:
    name: str
    email: str
    reply_to: str | None = None


@dataclass(frozen=True)
class SyncSettings:
    """How and how often the connector polls the store."""

    interval_minutes: int = 5
    birthday_meta_key: str | None = None
    page_size: int | None = None
    timeout_seconds: float = 30.0
    #: HTTP requests in flight to the shop at most during a sync (1: one after another).
    concurrent_requests: int = 3
    #: Magento: the product attribute holding the brand (None: "manufacturer").
    brand_attribute: str | None = None
    #: Magento: the product URL suffix (None: ".html"; "" for none).
    product_url_suffix: str | None = None
    #: WooCommerce: a plugin's own order status -> pending/paid/completed/cancelled/refunded/failed or cart.
    order_statuses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantConfig:
    name: str
    platform: Platform
    url: str
    credentials: Mapping[str, Any] = field(default_factory=dict)
    webhook_secret: str | None = None
    timezone: str = "UTC"
    locale: str = "en_US"
    currency: str = "EUR"
    sender: Sender | None = None
    sync: SyncSettings = field(default_factory=SyncSettings)
    flows: Mapping[str, Any] = field(default_factory=dict)
    segments: Mapping[str, Any] = field(default_factory=dict)
    tracker: Mapping[str, Any] = field(default_factory=dict)
    messages: Mapping[str, Any] = field(default_factory=dict)
    scoring: Mapping[str, Any] = field(default_factory=dict)
    attribution: Mapping[str, Any] = field(default_factory=dict)
    campaigns: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the tenant as the mapping a tenant file holds (round-trips through validate)."""
        out: dict[str, Any] = {
            "name": self.name,
            "platform": self.platform.value,
            "url": self.url,
            "credentials": dict(self.credentials),
            "webhook_secret": self.webhook_secret,
            "timezone": self.timezone,
            "locale": self.locale,
            "currency": self.currency,
            "sender": None
            if self.sender is None
            else {"name": self.sender.name, "email": self.sender.email, "reply_to": self.sender.reply_to},
            "sync": {
                "interval_minutes": self.sync.interval_minutes,
                "birthday_meta_key": self.sync.birthday_meta_key,
                "page_size": self.sync.page_size,
                "timeout_seconds": self.sync.timeout_seconds,
                "concurrent_requests": self.sync.concurrent_requests,
                "brand_attribute": self.sync.brand_attribute,
                "product_url_suffix": self.sync.product_url_suffix,
                "order_statuses": dict(self.sync.order_statuses),
            },
            "flows": dict(self.flows),
            "segments": dict(self.segments),
            "tracker": dict(self.tracker),
            "messages": dict(self.messages),
            "scoring": dict(self.scoring),
            "attribution": dict(self.attribution),
            "campaigns": dict(self.campaigns),
        }
        return out


def _require_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be a mapping of keys to values")
    return value


def _reject_unknown(value: Mapping[str, Any], allowed: Any, path: str) -> None:
    unknown = [key for key in value if key not in allowed]
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"{where}{unknown[0]}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _string(value: Any, path: str, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigError(f"{path}: is required")
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{path}: must be a string")
    return str(value).strip()


def _normalised(func: Callable[[Any], Any], value: Any, path: str, hint: str) -> Any:
    try:
        result = func(value)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc} ({hint})") from exc
    return result


def validate_name(name: Any) -> str:
    """Return a valid tenant name or raise ConfigError saying what names may be."""
    text = _string(name, "name", required=True)
    assert text is not None
    if not NAME_RE.match(text):
        raise ConfigError(
            f"name: {text!r} is not a valid tenant name (use lower-case letters, digits, - and _, up to 63)"
        )
    return text


def validate_platform(value: Any) -> Platform:
    try:
        return Platform(value)
    except ValueError as exc:
        allowed = "|".join(p.value for p in Platform)
        raise ConfigError(f"platform: unknown platform {value!r} (allowed: {allowed})") from exc


def validate_url(value: Any) -> str:
    text = _string(value, "url", required=True)
    assert text is not None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"url: {text!r} is not a shop address (use https://shop.example.com)")
    return text.rstrip("/")


def _credentials(value: Any, platform: Platform) -> dict[str, Any]:
    raw = _require_mapping(value, "credentials")
    allowed = CREDENTIAL_KEYS[platform]
    _reject_unknown(raw, allowed, "credentials")
    out: dict[str, Any] = {}
    for key, item in raw.items():
        if key == "query_string_auth":
            if not isinstance(item, bool):
                raise ConfigError("credentials.query_string_auth: must be true or false")
            out[key] = item
        elif key == "language_id":
            if isinstance(item, bool) or not isinstance(item, int) or item < 1:
                raise ConfigError("credentials.language_id: must be a positive whole number")
            out[key] = item
        else:
            text = _string(item, f"credentials.{key}")
            if text is not None:
                out[key] = text
    return out


def _sender(value: Any) -> Sender | None:
    if value is None:
        return None
    raw = _require_mapping(value, "sender")
    _reject_unknown(raw, {"name", "email", "reply_to"}, "sender")
    name = _string(raw.get("name"), "sender.name", required=True)
    email = _normalised(normalize.email, raw.get("email"), "sender.email", "use shop@example.com")
    if email is None:
        raise ConfigError("sender.email: is required")
    reply_to = _normalised(normalize.email, raw.get("reply_to"), "sender.reply_to", "use help@example.com")
    assert name is not None
    return Sender(name=name, email=email, reply_to=reply_to)


def _positive_int(value: Any, path: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ConfigError(f"{path}: must be a whole number from 1 to {maximum}")
    return value


def _sync(value: Any) -> SyncSettings:
    raw = _require_mapping(value, "sync")
    _reject_unknown(
        raw,
        {
            "interval_minutes",
            "birthday_meta_key",
            "page_size",
            "timeout_seconds",
            "concurrent_requests",
            "brand_attribute",
            "product_url_suffix",
            "order_statuses",
        },
        "sync",
    )
    defaults = SyncSettings()
    timeout = raw.get("timeout_seconds", defaults.timeout_seconds)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 300:
        raise ConfigError("sync.timeout_seconds: must be a number of seconds from 1 to 300")
    page_size = raw.get("page_size")
    suffix = raw.get("product_url_suffix")
    if suffix is not None and (not isinstance(suffix, str) or any(c.isspace() or c in "?#" for c in suffix)):
        raise ConfigError('sync.product_url_suffix: must be a URL suffix such as ".html", or "" for none')
    return SyncSettings(
        interval_minutes=_positive_int(
            raw.get("interval_minutes", defaults.interval_minutes), "sync.interval_minutes", 1440
        ),
        birthday_meta_key=_string(raw.get("birthday_meta_key"), "sync.birthday_meta_key"),
        page_size=None if page_size is None else _positive_int(page_size, "sync.page_size", 1000),
        timeout_seconds=float(timeout),
        concurrent_requests=_positive_int(
            raw.get("concurrent_requests", defaults.concurrent_requests), "sync.concurrent_requests", 8
        ),
        brand_attribute=_string(raw.get("brand_attribute"), "sync.brand_attribute"),
        product_url_suffix=suffix,
        order_statuses=_order_statuses(raw.get("order_statuses")),
    )


#: What ``sync.order_statuses`` may map a shop's own status to.
ORDER_STATUS_TARGETS = ("pending", "paid", "completed", "cancelled", "refunded", "failed", "cart")


def _order_statuses(value: Any) -> dict[str, str]:
    raw = _require_mapping(value, "sync.order_statuses")
    out: dict[str, str] = {}
    for key, target in raw.items():
        name = str(key).strip().lower()
        name = name[3:] if name.startswith("wc-") else name
        if not name or len(name) > 64:
            raise ConfigError(f"sync.order_statuses: {key!r} is not a status name (the shop's slug, e.g. shipped)")
        if target not in ORDER_STATUS_TARGETS:
            raise ConfigError(
                f"sync.order_statuses.{key}: must be one of {', '.join(ORDER_STATUS_TARGETS)} (what the status means)"
            )
        out[name] = target
    return out


SectionValidator = Callable[[Any, str], Mapping[str, Any]]

#: The keys of a tenant mapping that this module validates itself.
BASE_KEYS = frozenset(
    {"name", "platform", "url", "credentials", "webhook_secret", "timezone", "locale", "currency", "sender", "sync"}
)
#: The sections other areas own (validated by the validators handed to ``validate_config``).
SECTION_KEYS = ("flows", "segments", "tracker", "messages", "scoring", "attribution", "campaigns")


def validate_config(raw: Any, sections: Mapping[str, SectionValidator]) -> TenantConfig:
    """Validate a tenant mapping and return its config, each section checked by ``sections[key]``.

    ``sections`` must hold a validator for every key of ``SECTION_KEYS`` (see
    ``core.sections.SECTIONS``). Raises ConfigError naming the first bad key
    and what is allowed.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError("tenant: must be a mapping with name, platform and url")
    _reject_unknown(raw, BASE_KEYS | frozenset(sections), "")
    name = validate_name(raw.get("name"))
    platform = validate_platform(raw.get("platform"))
    url = validate_url(raw.get("url"))
    timezone = _normalised(normalize.timezone, raw.get("timezone"), "timezone", "use an IANA name such as Europe/Paris")
    locale = _normalised(normalize.locale, raw.get("locale"), "locale", "use a locale such as fr_FR")
    currency = _normalised(normalize.currency, raw.get("currency"), "currency", "use an ISO 4217 code such as EUR")
    checked = {key: validator(raw.get(key), key) for key, validator in sections.items()}
    return TenantConfig(
        name=name,
        platform=platform,
        url=url,
        credentials=_credentials(raw.get("credentials"), platform),
        webhook_secret=_string(raw.get("webhook_secret"), "webhook_secret"),
        timezone=timezone or "UTC",
        locale=locale or "en_US",
        currency=currency or "EUR",
        sender=_sender(raw.get("sender")),
        sync=_sync(raw.get("sync")),
        **{key: value for key, value in checked.items() if key in SECTION_KEYS},
    )


def _stored_section(value: Any, path: str) -> Mapping[str, Any]:
    return dict(_require_mapping(value, path))


#: Sections as stored: they were validated and normalised when the tenant was saved.
STORED_SECTIONS: Mapping[str, SectionValidator] = {key: _stored_section for key in SECTION_KEYS}


def config_from_stored(data: Mapping[str, Any]) -> TenantConfig:
    """The config of a stored tenant (``TenantConfig.to_dict``), its sections taken as saved."""
    return validate_config(data, STORED_SECTIONS)


def mask_secret(value: Any) -> Any:
    """Return a secret shown only by its last 4 characters ("********f00d")."""
    if not isinstance(value, str) or not value:
        return value
    if len(value) < 12:
        return "********"
    return "********" + value[-4:]


def masked(data: Any, key: str | None = None) -> Any:
    """Return a copy of a tenant mapping with every secret masked."""
    if isinstance(data, Mapping):
        return {k: masked(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [masked(v, key) for v in data]
    if is_secret(key):
        return mask_secret(data)
    return data
