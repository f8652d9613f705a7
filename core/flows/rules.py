"""Rules that hold for every marketing message: consent, quiet hours, marketing pressure (and conditions' comparisons).

Pure functions over values; the engine loads the values and saves the outcome.

- Consent: a marketing message goes only to a contact whose latest choice on
  that channel is an opt-in. Transactional messages are not marketing.
- Quiet hours: a marketing message due between ``start`` and ``end`` in the
  contact's zone (theirs, else the tenant's) goes at ``end``.
- Pressure: at most ``per_day`` marketing messages per local day and
  ``per_week`` in any 7 consecutive local days per contact. A message that does
  not fit takes the next free slot. A higher-priority message may take the
  slot of a lower-priority one that is scheduled but not yet on its way, which
  then moves to its own next free slot (or is dropped when that is too late).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.model import Channel

#: How far ahead the next free slot is looked for.
SLOT_SEARCH_DAYS = 21


@dataclass(frozen=True)
class Pressure:
    """At most ``per_day`` marketing messages per local day and ``per_week`` in 7 days, per contact."""

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


@lru_cache(maxsize=512)
def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The contact's zone, else the tenant's (an unknown name falls back too)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def at_local(day: date, when: time, tz: ZoneInfo) -> datetime:
    """The instant of a local date and time of day (a time skipped by a DST change moves forward)."""
    local = datetime.combine(day, when, tzinfo=tz)
    return local.astimezone(ZoneInfo("UTC"))


def next_local_time(after: datetime, when: time, tz: ZoneInfo) -> datetime:
    """The first instant at or after ``after`` whose local time of day is ``when``."""
    day = after.astimezone(tz).date()
    candidate = at_local(day, when, tz)
    if candidate < after:
        candidate = at_local(day + timedelta(days=1), when, tz)
    return candidate


def in_quiet_hours(moment: datetime, quiet: QuietHours, tz: ZoneInfo) -> bool:
    if not quiet.active:
        return False
    local = moment.astimezone(tz).time()
    if quiet.start > quiet.end:  # over midnight (21:00 - 08:00)
        return local >= quiet.start or local < quiet.end
    return quiet.start <= local < quiet.end


def after_quiet_hours(moment: datetime, quiet: QuietHours, tz: ZoneInfo) -> datetime:
    """``moment``, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(moment, quiet, tz):
        return moment
    return next_local_time(moment, quiet.end, tz)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def compare(op: str, value: Any, expected: Any) -> bool:
    """A condition's comparison of a value (a contact field, an event property) with the expected one.

    ``exists`` (expected true or false), ``equals`` (as given or as text), ``in`` (a list),
    ``at_most`` / ``at_least`` / ``below`` / ``above`` (numbers: a missing or non-numeric value is false).
    """
    if op == "exists":
        return (value is not None) == (True if expected is None else bool(expected))
    if op == "in":
        return value in expected or str(value) in [str(item) for item in expected]
    if op == "equals":
        return value == expected or (value is not None and str(value) == str(expected))
    left, right = _number(value), _number(expected)
    if left is None or right is None:
        return False
    if op == "at_most":
        return left <= right
    if op == "at_least":
        return left >= right
    if op == "below":
        return left < right
    if op == "above":
        return left > right
    raise ValueError(f"unknown comparison {op!r}")


def consent_given(channel: Channel, email_consent: bool | None, sms_consent: bool | None) -> bool:
    """True when the contact's latest choice on the channel is an opt-in (no choice is no)."""
    return (email_consent if channel is Channel.EMAIL else sms_consent) is True


@dataclass
class Entry:
    """A marketing message that counts against a contact's pressure."""

    when: datetime
    rank: int
    message_id: int | None = None
    movable: bool = False  # scheduled and not yet on its way: a higher priority may take its slot
    expires_at: datetime | None = None
    flow: str = ""
    ref: Any = None  # the engine's not-yet-written message, when it is one


@dataclass(frozen=True)
class Slot:
    when: datetime
    bumped: tuple[Entry, ...] = ()


@dataclass
class Ledger:
    """One contact's counted marketing messages, in their zone."""

    tz: ZoneInfo
    entries: list[Entry] = field(default_factory=list)

    def day(self, moment: datetime) -> date:
        return moment.astimezone(self.tz).date()

    def _counts(self, skip: tuple[Entry, ...]) -> dict[date, int]:
        counts: dict[date, int] = {}
        for entry in self.entries:
            if any(entry is s for s in skip):
                continue
            day = self.day(entry.when)
            counts[day] = counts.get(day, 0) + 1
        return counts

    def fits(self, day: date, pressure: Pressure, skip: tuple[Entry, ...] = ()) -> bool:
        if not self.entries:
            return True  # caps are at least 1
        counts = self._counts(skip)
        if counts.get(day, 0) + 1 > pressure.per_day:
            return False
        for start in range(-6, 1):  # every 7-day window that holds ``day``
            window = sum(counts.get(day + timedelta(days=start + i), 0) for i in range(7))
            if window + 1 > pressure.per_week:
                return False
        return True

    def _bumpable(self, day: date, rank: int, now: datetime) -> list[Entry]:
        near = [
            e
            for e in self.entries
            if e.movable and e.rank > rank and e.when > now and abs((self.day(e.when) - day).days) <= 6
        ]
        # the lowest priority first, then the latest
        return sorted(near, key=lambda e: (-e.rank, -e.when.timestamp()))

    def find_slot(
        self,
        want: datetime,
        rank: int,
        now: datetime,
        pressure: Pressure,
        quiet: QuietHours,
        allow_bump: bool = True,
    ) -> Slot | None:
        """The first time at or after ``want`` (out of quiet hours) where one more message fits."""
        moment = after_quiet_hours(max(want, now), quiet, self.tz)
        first_day = self.day(moment)
        for offset in range(SLOT_SEARCH_DAYS):
            day = first_day + timedelta(days=offset)
            if offset:
                start = quiet.end if quiet.active else time(0)
                moment = after_quiet_hours(at_local(day, start, self.tz), quiet, self.tz)
            if self.fits(day, pressure):
                return Slot(moment)
            if allow_bump and offset == 0:
                candidates = self._bumpable(day, rank, now)
                for entry in candidates:  # one message moved is enough, most of the time
                    if self.fits(day, pressure, (entry,)):
                        return Slot(moment, (entry,))
                bumped: list[Entry] = []
                for entry in candidates:
                    bumped.append(entry)
                    if self.fits(day, pressure, tuple(bumped)):
                        return Slot(moment, tuple(bumped))
        return None

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)

    def remove(self, entry: Entry) -> None:
        self.entries = [e for e in self.entries if e is not entry]
