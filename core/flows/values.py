"""Validators of the values a ``flows`` section holds, shared by every flow's settings.

Each returns the typed value or raises FlowConfigError naming the key path
and what is allowed. ``normal`` turns typed values back into what the tenant
file holds (channels and times as strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any

from core.flows.errors import FlowConfigError
from core.model import Channel

CHANNELS = tuple(c.value for c in Channel)


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


def delays(value: Any, path: str, low: float, high: float, unit: str, example: str) -> tuple[float, ...]:
    """A series' delays: a list of 1 to 5 numbers from ``low`` to ``high`` (in ``unit``), each greater than the last."""
    if not isinstance(value, list) or not 1 <= len(value) <= 5:
        raise fail(path, f"must be a list of 1 to 5 delays in {unit}, such as {example}")
    parsed = tuple(number(d, f"{path}[{i}]", low, high) for i, d in enumerate(value))
    if list(parsed) != sorted(set(parsed)):
        raise fail(path, f"must grow from one step to the next, such as {example}")
    return parsed


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


def normal(value: Any) -> Any:
    """JSON-ready copy of a validated value (channels and times as strings)."""
    if isinstance(value, Channel):
        return value.value
    if isinstance(value, time):
        return hhmm(value)
    if isinstance(value, Mapping):
        return {str(k): normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normal(v) for v in value]
    return value


def common(given: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The keys every built-in flow has: ``enabled`` and ``channel``."""
    out: dict[str, Any] = {}
    if "enabled" in given:
        out["enabled"] = boolean(given["enabled"], f"{path}.enabled")
    if "channel" in given:
        out["channel"] = channel(given["channel"], f"{path}.channel")
    return out
