"""Date triggers: a run for each contact whose birthday greeting falls in the next two days.

A periodic scan (hourly) looks at the contacts whose birthday is around today,
computes the greeting time in each one's zone (``at``, 09:00 by default; 28
February for people born on 29 February in a year without one) and starts a
run per contact and year. The engine re-reads the birthday when the run is
due, so a birthday changed meanwhile is greeted on the right day.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from sqlalchemy import Connection, extract, or_, select

from core.flows.model import Definition, TriggerKind
from core.flows.rules import at_local, zone
from core.flows.schema import flow_runs
from core.flows.settings import TenantFlows
from core.flows.sql import among
from core.store.schema import contacts
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
    conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, ahead: timedelta = AHEAD
) -> int:
    """Start the date-triggered runs (birthdays) due from now to ``ahead``; return how many started.

    A run started early changes nothing: the engine re-reads the birthday, the
    zone and the consent when it is due.
    """
    from core.flows.triggers import begin

    dated: list[Definition] = [d for d in flows.by_name.values() if d.trigger.kind is TriggerKind.DATE]
    if not dated:
        return 0
    month_day = extract("month", contacts.c.birthday) * 100 + extract("day", contacts.c.birthday)
    rows = conn.execute(
        select(contacts.c.id, contacts.c.birthday, contacts.c.timezone).where(
            contacts.c.tenant_id == tenant.id,
            contacts.c.birthday.is_not(None),
            or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None)),
            month_day.in_(_month_days(now, ahead)),
        )
    ).all()
    wanted: list[tuple[Definition, int, str, datetime, int]] = []
    for contact_id, birthday, tz_name in rows:
        for definition in dated:
            at = definition.trigger.at or time(9)
            for year in (now.year - 1, now.year, now.year + 1):
                greeting = greeting_time(birthday, year, at, tz_name, tenant.config.timezone)
                if now - definition.horizon <= greeting <= now + ahead:
                    wanted.append((definition, contact_id, f"birthday:{contact_id}:{year}", greeting, year))
    if not wanted:
        return 0
    existing = {
        (flow, key)
        for flow, key in conn.execute(
            select(flow_runs.c.flow, flow_runs.c.trigger_key).where(
                flow_runs.c.tenant_id == tenant.id,
                flow_runs.c.flow.in_(sorted({d.name for d in dated})),
                among(conn, flow_runs.c.trigger_key, sorted({key for _, _, key, _, _ in wanted})),
            )
        )
    }
    started = 0
    for definition, contact_id, key, greeting, year in wanted:
        if (definition.name, key) in existing:
            continue
        if begin(conn, tenant, definition, contact_id, key, greeting, now, anchor=greeting, context={"year": year}):
            started += 1
    return started
