"""The ``flows`` section of a tenant file: validation, defaults, typed settings.

``validate(value, path)`` is what ``core.tenants`` calls: it refuses unknown
keys and bad values naming the key and what is allowed, rejects flows that
can trigger each other in an unguarded loop, and returns the section
normalised (only the keys given; defaults are applied by ``flow_settings``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from typing import Any

from core import normalize
from core.flows.errors import FlowConfigError
from core.flows.model import DEFAULT_PRIORITIES, Definition, FlowName
from core.model import Channel

CHANNELS = tuple(c.value for c in Channel)
_TOP_KEYS = ("pressure", "quiet_hours", "priorities", "notify_email", *(f.value for f in FlowName), "custom")


@dataclass(frozen=True)
class Pressure:
    per_day: int = 1
    per_week: int = 3


@dataclass(frozen=True)
class QuietHours:
    """No marketing message between ``start`` and ``end`` (local time); equal times switch it off."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    @property
    def active(self) -> bool:
        return self.start != self.end


@dataclass(frozen=True)
class AbandonedCart:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    delays_hours: tuple[float, ...] = (1, 24, 72)
    coupon: str | None = None  # carried by the last step


@dataclass(frozen=True)
class Birthday:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    at: time = time(9, 0)
    coupon: str | None = None


@dataclass(frozen=True)
class CrossSell:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    after_days: int = 7
    products: int = 4


@dataclass(frozen=True)
class Replenishment:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    days_before: int = 5
    min_pairs: int = 5
    intervals: Mapping[str, float] = field(default_factory=dict)  # product id -> days, wins over learning


@dataclass(frozen=True)
class FlowSettings:
    pressure: Pressure = field(default_factory=Pressure)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    priorities: tuple[str, ...] = DEFAULT_PRIORITIES
    notify_email: str | None = None
    abandoned_cart: AbandonedCart = field(default_factory=AbandonedCart)
    birthday: Birthday = field(default_factory=Birthday)
    cross_sell: CrossSell = field(default_factory=CrossSell)
    replenishment: Replenishment = field(default_factory=Replenishment)
    custom: tuple[Definition, ...] = ()

    def rank(self, flow: str) -> int:
        """Priority rank of a flow: 0 goes first; flows not listed come after, in name order."""
        try:
            return self.priorities.index(flow)
        except ValueError:
            return len(self.priorities)


def fail(path: str, reason: str) -> FlowConfigError:
    return FlowConfigError(f"{path}: {reason}")


def mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise fail(path, "must be a mapping of keys to values")
    return value


def reject_unknown(value: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(allowed)})")


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise fail(path, "must be true or false")
    return value


def integer(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(path, f"must be a whole number from {low} to {high}")
    return value


def number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise fail(path, f"must be a number from {low:g} to {high:g}")
    return float(value)


def text(value: Any, path: str, max_length: int = 200) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise fail(path, "must be a string")
    result = str(value).strip()
    if len(result) > max_length:
        raise fail(path, f"is longer than {max_length} characters")
    return result or None


def channel(value: Any, path: str) -> Channel:
    try:
        return Channel(value)
    except ValueError as exc:
        raise fail(path, f"unknown channel {value!r} (allowed: {', '.join(CHANNELS)})") from exc


def time_of_day(value: Any, path: str) -> time:
    """A local time "HH:MM". YAML reads an unquoted 21:00 as the number 1260 (minutes): accepted."""
    if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < 24 * 60:
        return time(value // 60, value % 60)
    if isinstance(value, str):
        try:
            hours, minutes = value.strip().split(":")
            return time(int(hours), int(minutes))
        except ValueError:
            pass
    raise fail(path, f'must be a time of day such as "09:00" (got {value!r})')


def hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _pressure(raw: Any, path: str) -> tuple[Pressure, dict[str, Any]]:
    given = mapping(raw, path)
    reject_unknown(given, ("per_day", "per_week"), path)
    per_day = integer(given.get("per_day", 1), f"{path}.per_day", 1, 20)
    per_week = integer(given.get("per_week", 3), f"{path}.per_week", 1, 100)
    if per_week < per_day:
        raise fail(f"{path}.per_week", f"must be at least per_day ({per_day})")
    return Pressure(per_day, per_week), dict(given)


def _quiet(raw: Any, path: str) -> tuple[QuietHours, Any]:
    if raw is False:
        return QuietHours(time(0), time(0)), False
    given = mapping(raw, path)
    reject_unknown(given, ("start", "end"), path)
    start = time_of_day(given.get("start", "21:00"), f"{path}.start")
    end = time_of_day(given.get("end", "08:00"), f"{path}.end")
    return QuietHours(start, end), {"start": hhmm(start), "end": hhmm(end)}


def _priorities(raw: Any, path: str, custom_names: set[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise fail(path, "must be a list of flow names, highest priority first")
    known = {f.value for f in FlowName} | custom_names
    for index, name in enumerate(raw):
        if name not in known:
            raise fail(f"{path}[{index}]", f"unknown flow {name!r} (allowed: {', '.join(sorted(known))})")
    if len(set(raw)) != len(raw):
        raise fail(path, "names a flow twice")
    rest = [name for name in DEFAULT_PRIORITIES if name not in raw]
    return tuple(raw) + tuple(rest)


def _flow_common(given: Mapping[str, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "enabled" in given:
        out["enabled"] = boolean(given["enabled"], f"{path}.enabled")
    if "channel" in given:
        out["channel"] = channel(given["channel"], f"{path}.channel")
    return out


def _abandoned_cart(raw: Any, path: str) -> AbandonedCart:
    given = mapping(raw, path)
    reject_unknown(given, ("enabled", "channel", "delays_hours", "coupon"), path)
    values = _flow_common(given, path)
    if "delays_hours" in given:
        delays = given["delays_hours"]
        if not isinstance(delays, list) or not 1 <= len(delays) <= 5:
            raise fail(f"{path}.delays_hours", "must be a list of 1 to 5 delays in hours, such as [1, 24, 72]")
        parsed = tuple(number(d, f"{path}.delays_hours[{i}]", 0.25, 24 * 30) for i, d in enumerate(delays))
        if list(parsed) != sorted(set(parsed)):
            raise fail(f"{path}.delays_hours", "must grow from one step to the next, such as [1, 24, 72]")
        values["delays_hours"] = parsed
    if "coupon" in given:
        values["coupon"] = text(given["coupon"], f"{path}.coupon", 60)
    return AbandonedCart(**values)


def _birthday(raw: Any, path: str) -> Birthday:
    given = mapping(raw, path)
    reject_unknown(given, ("enabled", "channel", "at", "coupon"), path)
    values = _flow_common(given, path)
    if "at" in given:
        values["at"] = time_of_day(given["at"], f"{path}.at")
    if "coupon" in given:
        values["coupon"] = text(given["coupon"], f"{path}.coupon", 60)
    return Birthday(**values)


def _cross_sell(raw: Any, path: str) -> CrossSell:
    given = mapping(raw, path)
    reject_unknown(given, ("enabled", "channel", "after_days", "products"), path)
    values = _flow_common(given, path)
    if "after_days" in given:
        values["after_days"] = integer(given["after_days"], f"{path}.after_days", 1, 90)
    if "products" in given:
        values["products"] = integer(given["products"], f"{path}.products", 1, 12)
    return CrossSell(**values)


def _replenishment(raw: Any, path: str) -> Replenishment:
    given = mapping(raw, path)
    reject_unknown(given, ("enabled", "channel", "days_before", "min_pairs", "intervals"), path)
    values = _flow_common(given, path)
    if "days_before" in given:
        values["days_before"] = integer(given["days_before"], f"{path}.days_before", 0, 60)
    if "min_pairs" in given:
        values["min_pairs"] = integer(given["min_pairs"], f"{path}.min_pairs", 1, 1000)
    if "intervals" in given:
        intervals = mapping(given["intervals"], f"{path}.intervals")
        values["intervals"] = {
            str(product): number(days, f"{path}.intervals.{product}", 1, 730) for product, days in intervals.items()
        }
    settings = Replenishment(**values)
    for product, days in settings.intervals.items():
        if days <= settings.days_before:
            raise fail(f"{path}.intervals.{product}", f"must be more than days_before ({settings.days_before}) days")
    return settings


def _normal(value: Any) -> Any:
    """JSON-ready copy of a validated value (channels and times as strings)."""
    if isinstance(value, Channel):
        return value.value
    if isinstance(value, time):
        return hhmm(value)
    if isinstance(value, Mapping):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return value


def parse(value: Any, path: str = "flows") -> tuple[FlowSettings, dict[str, Any]]:
    """Return the typed settings and the normalised section; raise FlowConfigError on a bad key."""
    from core.flows.builtin import definitions
    from core.flows.custom import parse_custom
    from core.flows.cycles import check_cycles

    given = mapping(value, path)
    reject_unknown(given, _TOP_KEYS, path)
    out: dict[str, Any] = {}
    values: dict[str, Any] = {}
    custom_raw = mapping(given.get("custom"), f"{path}.custom")
    custom = tuple(parse_custom(name, spec, f"{path}.custom.{name}") for name, spec in custom_raw.items())
    if custom_raw:
        values["custom"] = custom
        try:
            out["custom"] = json.loads(json.dumps(custom_raw))
        except (TypeError, ValueError) as exc:
            raise fail(f"{path}.custom", f"holds a value that is not plain text or a number ({exc})") from exc
    if "pressure" in given:
        values["pressure"], out["pressure"] = _pressure(given["pressure"], f"{path}.pressure")
    if "quiet_hours" in given:
        values["quiet_hours"], out["quiet_hours"] = _quiet(given["quiet_hours"], f"{path}.quiet_hours")
    if "priorities" in given:
        values["priorities"] = _priorities(given["priorities"], f"{path}.priorities", {d.name for d in custom})
        out["priorities"] = list(given["priorities"])
    if given.get("notify_email") is not None:
        try:
            values["notify_email"] = out["notify_email"] = normalize.email(given["notify_email"])
        except ValueError as exc:
            raise fail(f"{path}.notify_email", f"{exc} (use owner@example.com)") from exc
    parsers = {
        FlowName.ABANDONED_CART.value: _abandoned_cart,
        FlowName.BIRTHDAY.value: _birthday,
        FlowName.CROSS_SELL.value: _cross_sell,
        FlowName.REPLENISHMENT.value: _replenishment,
    }
    for key, parser in parsers.items():
        if key in given:
            parsed = parser(given[key], f"{path}.{key}")
            values[key] = parsed
            out[key] = {name: _normal(getattr(parsed, name)) for name in mapping(given[key], key)}
    settings = FlowSettings(**values)
    check_cycles(definitions(settings))
    return settings, out


def validate(value: Any, path: str = "flows") -> Mapping[str, Any]:
    """The tenant file's ``flows`` section, validated and normalised (see ``parse``)."""
    return parse(value, path)[1]


@dataclass(frozen=True)
class TenantFlows:
    """A tenant's flow settings and the definitions of its switched-on flows, by name."""

    settings: FlowSettings
    by_name: Mapping[str, Definition]


@lru_cache(maxsize=256)
def _cached(serialised: str) -> TenantFlows:
    from core.flows.builtin import definitions

    settings = parse(json.loads(serialised))[0]
    return TenantFlows(settings, {d.name: d for d in definitions(settings)})


def tenant_flows(section: Mapping[str, Any]) -> TenantFlows:
    """The typed settings and flows of a validated ``flows`` section, defaults applied (memoised)."""
    return _cached(json.dumps(section, sort_keys=True, default=str))
