"""Date triggers: a run for each contact whose birthday greeting falls in the next two days.

A periodic scan (hourly) looks at the contacts whose birthday is around today,
computes the greeting time in each one's zone (``at``, 09:00 by default; 28
February for people born on 29 February in a year without one) and starts a
run per contact and year, for every flow triggered by a date (the built-in
``birthday`` and the tenant's own). The engine re-reads the birthday when the
run is due, so a birthday changed meanwhile is greeted on the right day.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection

from core.flows.config import TenantFlows
from core.flows.model import Definition, TriggerKind
from core.flows.rules import at_local, zone
from core.flows.starting import begin
from core.flows.store.queries import birthdays_on, existing_keys
from core.store.tenants import Tenant

#: How far ahead the scan starts runs; more than the scan's period, so none is missed.
AHEAD = timedelta(hours=48)


def birthday_in(year: int, birthday: date) -> date:
    """The day a birthday is celebrated in ``year`` (29 February -> 28 February in other years)."""
    if birthday.month == 2 and birthday.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, birthday.month, birthday.day)


def greeting_time(birthday: date, year: int, at: time, tz_name: str | None, tenant_tz: str) -> datetime:
    """The instant of the greeting in ``year``, at local time ``at`` in the contact's zone."""
    return at_local(birthday_in(year, birthday), at, zone(tz_name, tenant_tz))


def _month_days(now: datetime, ahead: timedelta) -> list[int]:
    """The birthdays (as month * 100 + day) that can be greeted from two days ago to ``ahead``."""
    days: set[int] = set()
    for offset in range(-2, ahead.days + 2):
        day = (now + timedelta(days=offset)).date()
        days.add(day.month * 100 + day.day)
        if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
            days.add(229)
    return sorted(days)


def schedule_dates(
    conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, lookahead: timedelta = timedelta(0)
) -> int:
    """Start the date-triggered runs (birthdays) due from now to ``AHEAD + lookahead``; return how many started.

    A run started early changes nothing: the engine re-reads the birthday, the
    zone and the consent when it is due.
    """
    ahead = AHEAD + lookahead
    dated: list[Definition] = [d for d in flows.by_name.values() if d.trigger.kind is TriggerKind.DATE]
    if not dated:
        return 0
    wanted: list[tuple[Definition, int, str, datetime, int]] = []
    for contact_id, birthday, tz_name in birthdays_on(conn, tenant.id, _month_days(now, ahead)):
        for definition in dated:
            at = definition.trigger.at or time(9)
            for year in (now.year - 1, now.year, now.year + 1):
                greeting = greeting_time(birthday, year, at, tz_name, tenant.config.timezone)
                if now - definition.horizon <= greeting <= now + ahead:
                    wanted.append((definition, contact_id, f"birthday:{contact_id}:{year}", greeting, year))
    if not wanted:
        return 0
    existing = existing_keys(conn, tenant.id, {d.name for d in dated}, sorted({key for _, _, key, _, _ in wanted}))
    started = 0
    for definition, contact_id, key, greeting, year in wanted:
        if (definition.name, key) in existing:
            continue
        if begin(conn, tenant, definition, contact_id, key, greeting, now, anchor=greeting, context={"year": year}):
            started += 1
    return started
