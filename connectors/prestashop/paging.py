"""Where a PrestaShop sync stands in a resource: the cursor, and how it moves page by page (pure).

PrestaShop can filter ``date_upd`` on an interval and sort by ``date_upd``
then ``id``, but cannot say "after this (date_upd, id)". So each page asks
again from the ``date_upd`` of the last record seen, skips the records of that
second already stored (``id`` at most the last one), and starts at an offset
of the records of that second already seen, a little early (``SLACK``) in
case some of them changed meanwhile and left the window. Records keep their
order however long the sync runs, so nothing is lost or stored twice, and a
page full of one second's records still moves forward.

The cursor is JSON: ``{"date_upd": "2026-11-20 10:00:00", "id": 42, "seen": 3}``,
with ``date_upd`` in the shop's own local time, exactly as the shop writes it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError

#: The lower bound of a first sync: before any PrestaShop record.
START = "1970-01-01 00:00:00"
#: Records of the current second re-read at the start of each page (see module doc).
SLACK = 10
_LOCAL_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def record_date(record: Any) -> str | None:
    """The record's ``date_upd`` as the shop wrote it, or None when it is not a date."""
    if not isinstance(record, Mapping):
        return None
    value = str(record.get("date_upd") or "").strip()
    return value if _LOCAL_RE.match(value) else None


def record_number(record: Any) -> int | None:
    """The record's id as a number, or None."""
    if not isinstance(record, Mapping):
        return None
    try:
        return int(str(record.get("id")).strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Position:
    """The last stored record's ``date_upd`` and ``id``, and how many records of that second were seen."""

    date_upd: str = START
    last_id: int = 0
    seen: int = 0

    @classmethod
    def decode(cls, cursor: str | None, tenant: str, resource: str) -> Position:
        """The position a stored cursor means; the start for None."""
        if cursor is None:
            return cls()
        try:
            raw = json.loads(cursor)
            position = cls(str(raw["date_upd"]), int(raw.get("id", 0)), int(raw.get("seen", 0)))
        except (ValueError, TypeError, KeyError) as exc:
            raise ConnectorError(
                f"tenant {tenant}: the saved {resource} cursor is not a PrestaShop cursor; "
                f"run relance sync --tenant {tenant} --resource {resource} --full"
            ) from exc
        if not _LOCAL_RE.match(position.date_upd):
            raise ConnectorError(
                f"tenant {tenant}: the saved {resource} cursor has no valid date; "
                f"run relance sync --tenant {tenant} --resource {resource} --full"
            )
        return position

    def encode(self) -> str:
        return json.dumps({"date_upd": self.date_upd, "id": self.last_id, "seen": self.seen})

    def offset(self, count: int) -> int:
        """Where the next page starts in the list of records from ``date_upd`` on."""
        return max(0, self.seen - min(SLACK, count - 1))

    def is_stored(self, record: Any) -> bool:
        """True for a record at or before this position (already stored by an earlier page)."""
        when = record_date(record)
        number = record_number(record)
        if when is None or number is None:
            return False
        return when < self.date_upd or (when == self.date_upd and number <= self.last_id)

    def advance(self, records: Sequence[Any], offset: int) -> Position:
        """The position after a page of ``records`` that started at ``offset``."""
        dated = [
            (when, number) for r in records if (when := record_date(r)) and (number := record_number(r)) is not None
        ]
        if not dated:
            return Position(self.date_upd, self.last_id, max(self.seen, offset + len(records)))
        when, number = max(dated)
        if when < self.date_upd or (when == self.date_upd and number <= self.last_id):
            return Position(self.date_upd, self.last_id, max(self.seen, offset + len(records)))
        at_that_second = sum(1 for w, _ in dated if w == when)
        seen = offset + len(records) if when == self.date_upd else at_that_second
        return Position(when, number, seen)
