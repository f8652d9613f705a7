"""The keyset cursor of a Magento list sorted by (``updated_at``, ``entity_id``).

Each page is asked for as page 1 of "what comes after the cursor":

    updated_at >= T  AND  (updated_at > T  OR  entity_id > N)  AND  updated_at <= until

(filter groups are ANDed, filters inside a group ORed), sorted by
``updated_at`` then ``entity_id`` ascending. ``gteq`` is inclusive, so records
sharing the cursor's second are told apart by their id: a mass update of
thousands of products in one second pages through without repeats or gaps.
Because every page starts at the cursor rather than at an offset, a record
modified during the sync cannot shift the pages under us and be skipped.

``until`` is the sync's frozen ``now`` minus ``SETTLE``: Magento stamps
``updated_at`` when a row is written, and a slow transaction (an order being
placed) can commit a second or two later with an earlier stamp than rows we
already read. Leaving the last minute to the next sync closes that gap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.magento.client import Filter
from core import normalize

SETTLE = timedelta(seconds=60)
ID_FIELD = "entity_id"
SORT = (("updated_at", "ASC"), (ID_FIELD, "ASC"))


def magento_time(when: datetime) -> str:
    """A time as Magento filters take it: UTC ``YYYY-MM-DD HH:MM:SS``."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def whole_second(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=0)


def settled_until(now: datetime) -> datetime:
    """The newest modification time a sync started at ``now`` reads."""
    return whole_second(now) - SETTLE


@dataclass(frozen=True)
class Keyset:
    """Position after the record (``updated_at``, ``last_id``); ``updated_at`` None means the start."""

    updated_at: datetime | None = None
    last_id: int = 0

    @classmethod
    def decode(cls, raw: str | None) -> Keyset:
        if not raw:
            return cls()
        data = json.loads(raw)
        when = data.get("updated_at")
        return cls(
            updated_at=normalize.timestamp(when) if when else None,
            last_id=int(data.get("id") or 0),
        )

    @classmethod
    def since(cls, when: datetime) -> Keyset:
        """What changed from ``when`` on (its whole second included)."""
        return cls(updated_at=whole_second(when), last_id=0)

    def encode(self) -> str:
        return json.dumps(
            {"updated_at": normalize.isoformat(self.updated_at), "id": self.last_id}, separators=(",", ":")
        )

    def groups(self, until: datetime) -> list[list[Filter]]:
        """The filter groups of the next page: after this position, up to ``until``."""
        groups = [[Filter("updated_at", magento_time(until), "lteq")]]
        if self.updated_at is not None:
            at = magento_time(self.updated_at)
            groups.append([Filter("updated_at", at, "gteq")])
            groups.append([Filter("updated_at", at, "gt"), Filter(ID_FIELD, str(self.last_id), "gt")])
        return groups

    def seen(self, updated_at: datetime, record_id: int) -> bool:
        """True for a record at or before this position (a shop that ignored the filter sent it again)."""
        if self.updated_at is None:
            return False
        return (updated_at, record_id) <= (self.updated_at, self.last_id)

    def advance(self, updated_at: datetime, record_id: int) -> Keyset:
        if self.seen(updated_at, record_id):
            return self
        return Keyset(updated_at=updated_at, last_id=record_id)
