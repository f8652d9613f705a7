"""The tenant file's ``attribution`` section: the attribution windows.

```yaml
attribution:
  click_days: 5    # an order is credited to the last message clicked within 5 days before it
  open_days: 1     # else to the last message opened within 1 day before it (0: opens never count)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.errors import ConfigError

DEFAULT_CLICK_DAYS = 5
DEFAULT_OPEN_DAYS = 1
MAX_DAYS = 90


@dataclass(frozen=True)
class Windows:
    """How long before an order a click, or an open, still earns the order."""

    click: timedelta = timedelta(days=DEFAULT_CLICK_DAYS)
    open: timedelta = timedelta(days=DEFAULT_OPEN_DAYS)


def _days(raw: Mapping[str, Any], key: str, path: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DAYS:
        raise ConfigError(f"{path}.{key}: must be a number of days from 0 to {MAX_DAYS}, such as {default}")
    return float(value)


def _parse(value: Any, path: str) -> tuple[dict[str, Any], Windows]:
    raw: Any = {} if value is None else value
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping with click_days and open_days")
    for key in raw:
        if key not in ("click_days", "open_days"):
            raise ConfigError(f"{path}.{key}: unknown key (allowed: click_days, open_days)")
    click = _days(raw, "click_days", path, DEFAULT_CLICK_DAYS)
    opened = _days(raw, "open_days", path, DEFAULT_OPEN_DAYS)
    return dict(raw), Windows(click=timedelta(days=click), open=timedelta(days=opened))


def validate(value: Any, path: str = "attribution") -> Mapping[str, Any]:
    """Validate the ``attribution`` section of a tenant file; return it as plain data."""
    return _parse(value, path)[0]


def windows(section: Mapping[str, Any] | None) -> Windows:
    """The windows of a (validated) ``attribution`` section."""
    return _parse(section or {}, "attribution")[1]
