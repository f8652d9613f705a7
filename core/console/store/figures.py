"""What the console's overview and tenant dashboard show, read from the store in a few grouped queries.

Revenue here is the console's own last-touch estimate until the reports area
(``core.reports``) lands: a paid or completed order is credited to the flow
of the contact's last message sent in the ``ATTRIBUTION_DAYS`` before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Date, cast, func, select, text

from core.model import REVENUE_STATUSES
from core.segments.store.dialect import days_between
from core.segments.store.schema import segment_members
from core.store.deliveries import deliveries
from core.store.schema import events, messages, orders
from core.store.sync_state import sync_locks

#: An order counts for the last message sent to its contact this many days before it.
ATTRIBUTION_DAYS = 5
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
    revenue: Decimal = Decimal("0")
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
    """Health and 30-day figures of every tenant in ``tenant_ids``, in five grouped queries."""
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
    touched = _attributed_orders(conn, tenant_ids, since, now).subquery()
    # grouped by flow too (NULL: no message before the order), so that the subquery is computed once per order
    revenue = select(touched.c.tenant_id, touched.c.flow, func.sum(touched.c.total)).group_by(
        touched.c.tenant_id, touched.c.flow
    )
    for tenant_id, flow, total in conn.execute(revenue):
        if flow is not None:
            found[tenant_id].revenue += Decimal(str(total or 0))
    return found


def _without_jit(conn: Connection) -> None:
    """Turn PostgreSQL's JIT off for this transaction.

    The attribution's per-order lookups are cheap index probes, but their
    summed cost estimate passes ``jit_above_cost``: compiling the plan then
    takes seconds, ten times the query itself (bench/console.py).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def _attributed_orders(conn: Connection, tenant_ids: list[int], since: datetime, until: datetime) -> Any:
    """Paid orders of the window with the flow of their contact's last message before them (or NULL)."""
    _without_jit(conn)
    dialect = conn.dialect.name
    last_flow = (
        select(messages.c.flow)
        .where(
            messages.c.tenant_id == orders.c.tenant_id,
            messages.c.contact_id == orders.c.contact_id,
            messages.c.status == "sent",
            messages.c.sent_at <= orders.c.created_at,
            days_between(dialect, messages.c.sent_at, orders.c.created_at) <= ATTRIBUTION_DAYS,
        )
        .order_by(messages.c.sent_at.desc())
        .limit(1)
        .correlate(orders)
        .scalar_subquery()
    )
    return select(
        orders.c.tenant_id,
        orders.c.total,
        orders.c.created_at,
        _day(dialect, orders.c.created_at).label("day"),
        last_flow.label("flow"),
    ).where(
        orders.c.tenant_id.in_(tenant_ids),
        orders.c.contact_id.is_not(None),
        orders.c.status.in_(REVENUE_STATUSES),
        orders.c.created_at >= since,
        orders.c.created_at <= until,
    )


@dataclass
class FlowFigures:
    flow: str
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    ordered: int = 0
    revenue: Decimal = Decimal("0")
    revenue_per_day: dict[date, Decimal] = field(default_factory=dict)


def flow_figures(conn: Connection, tenant_id: int, now: datetime, days: int = 30) -> dict[str, FlowFigures]:
    """Per flow over the last ``days``: the funnel sent -> opened -> clicked -> ordered, and revenue per day."""
    since = now - timedelta(days=days)
    found: dict[str, FlowFigures] = {}

    def figures(flow: str) -> FlowFigures:
        return found.setdefault(flow, FlowFigures(flow))

    sent = (
        select(messages.c.flow, func.count())
        .where(messages.c.tenant_id == tenant_id, messages.c.status == "sent", messages.c.sent_at >= since)
        .group_by(messages.c.flow)
    )
    for flow, count in conn.execute(sent):
        figures(flow).sent = int(count)
    flow_key = events.c.properties["flow"].as_string()
    message_key = events.c.properties["message_id"].as_string()
    opened = (
        select(events.c.name, flow_key.label("flow"), func.count(func.distinct(message_key)))
        .where(
            events.c.tenant_id == tenant_id,
            events.c.name.in_(("email_opened", "email_clicked", "sms_clicked")),
            events.c.occurred_at >= since,
        )
        .group_by(events.c.name, flow_key)
    )
    for name, flow, count in conn.execute(opened):
        if flow is None:
            continue
        if name == "email_opened":
            figures(flow).opened += int(count)
        else:
            figures(flow).clicked += int(count)
    touched = _attributed_orders(conn, [tenant_id], since, now).subquery()
    revenue = select(touched.c.flow, touched.c.day, func.count(), func.sum(touched.c.total)).group_by(
        touched.c.flow, touched.c.day
    )
    for flow, day, count, total in conn.execute(revenue):
        if flow is None:  # no message in the days before the order
            continue
        item = figures(flow)
        amount = Decimal(str(total or 0))
        item.ordered += int(count)
        item.revenue += amount
        item.revenue_per_day[_as_date(day)] = amount
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


__all__ = ["ATTRIBUTION_DAYS", "FlowFigures", "TenantHealth", "flow_figures", "segment_counts", "tenant_health"]
