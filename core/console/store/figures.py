"""What the console's overview and tenant dashboard show, read from the store in a few grouped queries.

Revenue is what the attribution area credited (``order_attributions``, the
same figures as ``relance report``): the overview sums it per tenant, the
dashboard draws it per flow and campaign and day (``revenue_per_day``); the
dashboard's funnel, holdouts and A/B results are ``core.reports.build_report``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Date, cast, func, select

from core.attribution.store.schema import order_attributions
from core.segments.store.schema import segment_members
from core.store.deliveries import deliveries
from core.store.schema import events, messages
from core.store.sync_state import sync_locks

#: Bounce rate (bounced / sent + bounced, 30 days) above which the overview raises an alert.
BOUNCE_ALERT = 0.05


@dataclass(frozen=True)
class SyncHealth:
    finished_at: datetime | None
    outcome: str | None
    error: str | None


@dataclass
class TenantHealth:
    tenant_id: int
    sync: SyncHealth | None = None
    failed_deliveries: int = 0
    sent: int = 0
    bounced: int = 0
    #: Attributed revenue by currency (an order is credited in its own currency).
    revenue: dict[str, Decimal] = field(default_factory=dict)
    sent_per_day: dict[date, int] = field(default_factory=dict)

    @property
    def bounce_rate(self) -> float:
        total = self.sent + self.bounced
        return self.bounced / total if total else 0.0

    def alerts(self) -> list[str]:
        """Alert keys (translated by the console): sync_failing, deliveries_failing, bounce_high."""
        found = []
        if self.sync is not None and self.sync.outcome not in (None, "ok"):
            found.append("sync_failing")
        if self.failed_deliveries:
            found.append("deliveries_failing")
        if self.bounce_rate > BOUNCE_ALERT and self.sent + self.bounced >= 20:
            found.append("bounce_high")
        return found


def _day(dialect: str, column: Any) -> Any:
    if dialect == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def tenant_health(conn: Connection, tenant_ids: list[int], now: datetime, days: int = 30) -> dict[int, TenantHealth]:
    """Health and 30-day figures of every tenant in ``tenant_ids``, in four grouped queries."""
    found = {tenant_id: TenantHealth(tenant_id) for tenant_id in tenant_ids}
    if not tenant_ids:
        return found
    since = now - timedelta(days=days)
    dialect = conn.dialect.name
    for row in conn.execute(select(sync_locks).where(sync_locks.c.tenant_id.in_(tenant_ids))):
        found[row.tenant_id].sync = SyncHealth(row.finished_at, row.outcome, row.error)
    failed = (
        select(deliveries.c.tenant_id, func.count())
        .where(deliveries.c.tenant_id.in_(tenant_ids), deliveries.c.state == "failed")
        .group_by(deliveries.c.tenant_id)
    )
    for tenant_id, count in conn.execute(failed):
        found[tenant_id].failed_deliveries = int(count)
    day = _day(dialect, messages.c.sent_at).label("day")
    sent = (
        select(messages.c.tenant_id, messages.c.status, day, func.count())
        .where(
            messages.c.tenant_id.in_(tenant_ids),
            messages.c.status.in_(("sent", "bounced")),
            messages.c.sent_at >= since,
        )
        .group_by(messages.c.tenant_id, messages.c.status, day)
    )
    for tenant_id, status, when, count in conn.execute(sent):
        health = found[tenant_id]
        if status == "sent":
            health.sent += int(count)
            health.sent_per_day[_as_date(when)] = health.sent_per_day.get(_as_date(when), 0) + int(count)
        else:
            health.bounced += int(count)
    credit = order_attributions.c
    revenue = (
        select(credit.tenant_id, credit.currency, func.sum(credit.amount))
        .where(credit.tenant_id.in_(tenant_ids), credit.order_at >= since, credit.order_at < now)
        .group_by(credit.tenant_id, credit.currency)
    )
    for tenant_id, currency, total in conn.execute(revenue):
        found[tenant_id].revenue[currency] = Decimal(str(total or 0))
    return found


def revenue_per_day(
    conn: Connection, tenant_id: int, currency: str, since: datetime, until: datetime
) -> dict[str, dict[date, Decimal]]:
    """Attributed revenue in the tenant's currency per flow (or campaign, named ``campaign:NAME``) and day."""
    credit = order_attributions.c
    day = _day(conn.dialect.name, credit.order_at).label("day")
    query = (
        select(credit.flow, credit.campaign, day, func.sum(credit.amount))
        .where(
            credit.tenant_id == tenant_id,
            credit.currency == currency,
            credit.order_at >= since,
            credit.order_at < until,
        )
        .group_by(credit.flow, credit.campaign, day)
    )
    found: dict[str, dict[date, Decimal]] = {}
    for flow, campaign, when, total in conn.execute(query):
        name = f"campaign:{campaign}" if campaign else flow
        series = found.setdefault(name, {})
        series[_as_date(when)] = series.get(_as_date(when), Decimal(0)) + Decimal(str(total or 0))
    return dict(sorted(found.items()))


def segment_counts(conn: Connection, tenant_id: int) -> dict[str, int]:
    """Members of each segment now."""
    query = (
        select(segment_members.c.segment, func.count())
        .where(segment_members.c.tenant_id == tenant_id)
        .group_by(segment_members.c.segment)
        .order_by(segment_members.c.segment)
    )
    return {segment: int(count) for segment, count in conn.execute(query)}


def segment_trends(conn: Connection, tenant_id: int, now: datetime, days: int = 30) -> dict[str, tuple[int, int]]:
    """Contacts who entered and who left each segment over the last ``days`` (its ``segment_*`` events)."""
    segment = events.c.properties["segment"].as_string()
    query = (
        select(events.c.name, segment, func.count())
        .where(
            events.c.tenant_id == tenant_id,
            events.c.name.in_(("segment_entered", "segment_exited")),
            events.c.occurred_at >= now - timedelta(days=days),
        )
        .group_by(events.c.name, segment)
    )
    found: dict[str, list[int]] = {}
    for name, segment_name, count in conn.execute(query):
        if segment_name is None:
            continue
        found.setdefault(segment_name, [0, 0])[0 if name == "segment_entered" else 1] += int(count)
    return {name: (entered, left) for name, (entered, left) in found.items()}


def days_of(now: datetime, days: int) -> list[date]:
    """The calendar days (UTC) of the window ending today, oldest first."""
    today = now.date()
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def per_day(series: dict[date, Any], now: datetime, days: int) -> list[tuple[date, Any]]:
    """A day -> value mapping laid over every day of the window (0 where absent)."""
    return [(day, series.get(day, 0)) for day in days_of(now, days)]


__all__ = ["TenantHealth", "revenue_per_day", "segment_counts", "segment_trends", "tenant_health"]
