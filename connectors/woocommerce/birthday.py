"""Birthdays as WooCommerce plugins store them in customer meta data (WooCommerce has no birthday field).

Plugins choose their own key and format; the tenant file names the key
(``sync.birthday_meta_key``) and ``parse_birthday`` reads the common formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core import normalize

#: Formats some plugins use besides those of ``normalize.birthday``.
EXTRA_FORMATS = ("%m/%d/%Y", "%d %B %Y", "%B %d, %Y", "%d %b %Y", "%b %d, %Y")


def parse_birthday(value: Any) -> date | None:
    """A birthday from a plugin's meta value: ISO, European or US dates, month names, a
    ``{"year", "month", "day"}`` object or a Unix timestamp; None when it cannot be read."""
    if isinstance(value, Mapping):
        try:
            return date(int(value["year"]), int(value["month"]), int(value["day"]))
        except (KeyError, TypeError, ValueError):
            return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | Decimal) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        text = str(value).strip()
        if len(text) == 8 and text.isdigit():  # 19900228
            value = text
        else:
            try:
                day = datetime.fromtimestamp(int(Decimal(text)), UTC).date()
            except (ValueError, OverflowError, InvalidOperation, OSError):
                return None
            return day if day.year >= 1900 else None
    try:
        return normalize.birthday(value)
    except ValueError:
        pass
    text = str(value).strip()
    for fmt in EXTRA_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
        return parsed if parsed.year >= 1900 else None
    return None
