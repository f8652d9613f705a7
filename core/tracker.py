"""The storefront tracker's tenant settings (the ``tracker`` section of a tenant file).

    tracker:
      public_key: pk_3f9c2b7a1d8e4f60        # in the script; identifies the shop, not a secret
      allowed_origins: [https://shop.example.com, https://www.shop.example.com]
      respect_dnt: true       # default: visitors with Do Not Track / Global Privacy Control are not tracked
      require_consent: false  # true: nothing is sent until the page calls relance('consent', true)
      cookie_days: 395        # lifetime of the first-party anonymous id cookie
      limits:                 # requests over a limit are answered 429 with Retry-After (defaults below)
        batches_per_address: 120/minute   # tracker batches from one client address
        batches_per_tenant: 6000/minute   # tracker batches for the whole shop
        signups_per_address: 5/hour       # batches carrying a newsletter signup, from one client address
        signups_per_tenant: 300/hour      # ... for the whole shop (each may send a double opt-in email)
        signups_per_origin: 100/hour      # ... from one of the shop's origins (the Origin header)

The defaults of ``limits`` are the install's (``RELANCE_TRACKER_LIMITS``,
read by ``relance.settings`` with ``parse_limits``), else the ones below; a
tenant file overrides each one. The web service (``webhooks.collect``) and
``inbound.tracker`` apply them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from core.errors import ConfigError

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{16,100}$")
_KEYS = {"public_key", "allowed_origins", "respect_dnt", "require_consent", "cookie_days", "enabled", "limits"}
#: Seconds in each unit a rate may be given in.
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE_RE = re.compile(r"^\s*(\d{1,9})\s*/\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` requests in each window of ``seconds``."""

    count: int
    seconds: int

    def __str__(self) -> str:
        unit = next(name for name, seconds in UNITS.items() if seconds == self.seconds)
        return f"{self.count}/{unit}"


@dataclass(frozen=True)
class TrackerLimits:
    """The rate limits of ``/collect`` (the ``limits`` key of the tracker section)."""

    batches_per_address: Rate = Rate(120, 60)
    batches_per_tenant: Rate = Rate(6000, 60)
    signups_per_address: Rate = Rate(5, 3600)
    signups_per_tenant: Rate = Rate(300, 3600)
    signups_per_origin: Rate = Rate(100, 3600)


LIMIT_KEYS = tuple(TrackerLimits.__dataclass_fields__)


@dataclass(frozen=True)
class TrackerConfig:
    public_key: str
    allowed_origins: tuple[str, ...]
    respect_dnt: bool = True
    require_consent: bool = False
    cookie_days: int = 395
    limits: TrackerLimits = TrackerLimits()


def parse_rate(value: Any, path: str) -> Rate:
    """A rate written ``N/unit`` (unit: second, minute, hour or day); raise ConfigError naming ``path``."""
    match = RATE_RE.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(f"{path}: {value!r} is not a rate; write it like 120/minute (second, minute, hour or day)")
    return Rate(int(match.group(1)), UNITS[match.group(2)])


def _validate_limits(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be a mapping of limits to rates, e.g. batches_per_address: 120/minute")
    unknown = [key for key in value if key not in LIMIT_KEYS]
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown limit (allowed: {', '.join(LIMIT_KEYS)})")
    return {key: str(parse_rate(rate, f"{path}.{key}")) for key, rate in value.items()}


def parse_limits(value: str, path: str) -> TrackerLimits:
    """Limits written ``name=rate,name=rate`` (an install's defaults); the others keep the built-in defaults.

    Raises ConfigError naming ``path`` and the bad item.
    """
    given: dict[str, Rate] = {}
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        name, sep, rate = item.partition("=")
        name = name.strip()
        if not sep or name not in LIMIT_KEYS:
            raise ConfigError(
                f"{path}: {item[:60]!r} is not name=rate with a name among {', '.join(LIMIT_KEYS)} "
                "(e.g. batches_per_address=120/minute,signups_per_address=5/hour)"
            )
        given[name] = parse_rate(rate, f"{path}: {name}")
    return TrackerLimits(**given)


def normalize_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or None when ``value`` is not an http(s) origin."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def validate(value: Any, path: str) -> Mapping[str, Any]:
    """Validate the ``tracker`` section of a tenant file; raise ConfigError naming the bad key."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{path}: must be a mapping of keys to values")
    unknown = [key for key in value if key not in _KEYS]
    if unknown:
        raise ConfigError(f"{path}.{unknown[0]}: unknown key (allowed: {', '.join(sorted(_KEYS))})")
    if not value:
        return {}
    out: dict[str, Any] = {}
    for key in ("respect_dnt", "require_consent", "enabled"):
        if key in value:
            if not isinstance(value[key], bool):
                raise ConfigError(f"{path}.{key}: must be true or false")
            out[key] = value[key]
    key = value.get("public_key")
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ConfigError(
            f"{path}.public_key: must be 16 to 100 letters, digits, - or _ "
            "(generate one with: python3 -c 'import secrets; print(\"pk_\" + secrets.token_hex(12))')"
        )
    out["public_key"] = key
    origins = value.get("allowed_origins")
    if isinstance(origins, str):
        origins = [origins]
    if not isinstance(origins, list) or not origins:
        raise ConfigError(f"{path}.allowed_origins: must list the shop's origins, e.g. [https://shop.example.com]")
    normalized = []
    for index, origin in enumerate(origins):
        clean = normalize_origin(origin) if isinstance(origin, str) else None
        if clean is None:
            raise ConfigError(
                f"{path}.allowed_origins[{index}]: {origin!r} is not an origin (use https://shop.example.com, no path)"
            )
        if clean not in normalized:
            normalized.append(clean)
    out["allowed_origins"] = normalized
    if "cookie_days" in value:
        days = value["cookie_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 395:
            raise ConfigError(f"{path}.cookie_days: must be a whole number of days from 1 to 395")
        out["cookie_days"] = days
    if "limits" in value:
        out["limits"] = _validate_limits(value["limits"], f"{path}.limits")
    return out


def tracker_config(raw: Mapping[str, Any], defaults: TrackerLimits | None = None) -> TrackerConfig | None:
    """The tracker settings from a tenant's (validated) ``tracker`` section; None when not set up or disabled.

    Limits the section does not set are taken from ``defaults`` (the install's), else the built-in ones.
    """
    if not raw or not raw.get("public_key") or raw.get("enabled") is False:
        return None
    return TrackerConfig(
        public_key=raw["public_key"],
        allowed_origins=tuple(raw.get("allowed_origins") or ()),
        respect_dnt=raw.get("respect_dnt", True),
        require_consent=raw.get("require_consent", False),
        cookie_days=raw.get("cookie_days", 395),
        limits=replace(
            defaults or TrackerLimits(),
            **{key: parse_rate(rate, key) for key, rate in (raw.get("limits") or {}).items()},
        ),
    )
