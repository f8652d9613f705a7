"""The report's numbers, aggregated in SQL (a few scans whatever the number of messages).

Every query is scoped by tenant and period. A message's time is when it was
sent (``sent_at``), else when it was due (a bounced or holdout message has no
``sent_at``); an order's time is when it was placed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Float, Integer, and_, case, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from core.attribution.store.schema import order_attributions
from core.messages.store.schema import suppressions
from core.model import REVENUE_STATUSES
from core.store.schema import events, messages, orders
from core.store.types import UTCDateTime

SENT = ("sent", "bounced")
HOLDOUT = "holdout"
OPENS = ("email_opened", "email_clicked")
CLICKS = ("email_clicked", "sms_clicked")
UNSUBSCRIBES = ("newsletter_unsubscribed",)
#: Opens, clicks and unsubscribes of Relance's own messages are recorded by the link pages with this source
#: (``core.messages.preferences``), their ``message_id`` property an outbox id; the same event names sent by
#: another tool through the Event API name messages that are not ours.
RECORDED_BY = "relance"
#: Money is summed in ten-thousandths on SQLite (it keeps NUMERIC as a float there) to stay exact.
UNITS = 10000


@dataclass(frozen=True)
class Period:
    since: datetime | None = None
    until: datetime | None = None

    def among(self, column: Any) -> list[ColumnElement[bool]]:
        out = []
        if self.since is not None:
            out.append(column >= literal(self.since, UTCDateTime))
        if self.until is not None:
            out.append(column < literal(self.until, UTCDateTime))
        return out


def _day(conn: Connection, column: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _money_sum(conn: Connection, column: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return func.sum(column)
    return func.sum(cast(func.round(column * UNITS), Integer))


def money(conn: Connection, value: Any) -> Decimal:
    """A sum made by ``_money_sum`` as a Decimal."""
    if value is None:
        return Decimal(0)
    if conn.dialect.name == "postgresql":
        return Decimal(value)
    return Decimal(int(value)) / UNITS


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.max(case((condition, 1), else_=0))


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _message_time() -> ColumnElement[Any]:
    return func.coalesce(messages.c.sent_at, messages.c.due_at)


def message_rows(conn: Connection, tenant_id: int, period: Period) -> Iterator[tuple[Any, ...]]:
    """Per (flow, step, campaign, variant, channel, day): sent, delivered, bounced, opened, clicked,
    unsubscribed, complaints. Opens, clicks, unsubscribes and complaints are counted once per message."""
    mid = events.c.properties["message_id"].as_integer()
    engaged = (
        select(
            mid.label("mid"),
            _flag(events.c.name.in_(OPENS)).label("opened"),
            _flag(events.c.name.in_(CLICKS)).label("clicked"),
            _flag(events.c.name.in_(UNSUBSCRIBES)).label("unsubscribed"),
        )
        .where(
            events.c.tenant_id == tenant_id,
            events.c.name.in_(OPENS + CLICKS + UNSUBSCRIBES),
            events.c.source == RECORDED_BY,
        )
        .group_by(mid)
        .subquery()
    )
    complained = (
        select(suppressions.c.message_id.label("mid"))
        .where(
            suppressions.c.tenant_id == tenant_id,
            suppressions.c.reason == "complaint",
            suppressions.c.message_id.is_not(None),
        )
        .group_by(suppressions.c.message_id)
        .subquery()
    )
    day = _day(conn, _message_time()).label("day")
    query = (
        select(
            messages.c.flow,
            messages.c.step,
            messages.c.campaign,
            messages.c.variant,
            messages.c.channel,
            day,
            func.count().label("sent"),
            _count(messages.c.status == "sent").label("delivered"),
            _count(messages.c.status == "bounced").label("bounced"),
            func.coalesce(func.sum(engaged.c.opened), 0).label("opened"),
            func.coalesce(func.sum(engaged.c.clicked), 0).label("clicked"),
            func.coalesce(func.sum(engaged.c.unsubscribed), 0).label("unsubscribed"),
            func.count(complained.c.mid).label("complaints"),
        )
        .select_from(
            messages.outerjoin(engaged, engaged.c.mid == messages.c.id).outerjoin(
                complained, complained.c.mid == messages.c.id
            )
        )
        .where(messages.c.tenant_id == tenant_id, messages.c.status.in_(SENT), *period.among(_message_time()))
        .group_by(messages.c.flow, messages.c.step, messages.c.campaign, messages.c.variant, messages.c.channel, day)
    )
    yield from conn.execute(query)


def recipient_rows(
    conn: Connection, tenant_id: int, period: Period, by: tuple[str, ...], campaigns: bool | None
) -> list[tuple[Any, ...]]:
    """Distinct contacts sent a message, grouped by the message columns ``by`` (none: the tenant's total);
    only campaigns' messages when ``campaigns`` is True, only flows' when False."""
    columns = [messages.c[name] for name in by]
    scope = (
        [] if campaigns is None else [messages.c.campaign.is_not(None) if campaigns else messages.c.campaign.is_(None)]
    )
    query = (
        select(*columns, func.count(func.distinct(messages.c.contact_id)))
        .where(
            messages.c.tenant_id == tenant_id,
            messages.c.status.in_(SENT),
            *scope,
            *period.among(_message_time()),
        )
        .group_by(*columns)
    )
    return list(conn.execute(query))


def order_rows(conn: Connection, tenant_id: int, period: Period) -> Iterator[tuple[Any, ...]]:
    """Per (flow, step, campaign, variant, currency, day): attributed orders that bring money, and their sum."""
    credit = order_attributions.c
    day = _day(conn, credit.order_at).label("day")
    query = (
        select(
            credit.flow,
            credit.step,
            credit.campaign,
            credit.variant,
            credit.currency,
            day,
            _count(credit.amount > 0).label("orders"),
            _money_sum(conn, credit.amount).label("revenue"),
        )
        .where(credit.tenant_id == tenant_id, *period.among(credit.order_at))
        .group_by(credit.flow, credit.step, credit.campaign, credit.variant, credit.currency, day)
    )
    for row in conn.execute(query):
        yield (*row[:7], money(conn, row[7]))


def _plus_days(conn: Connection, column: Any, days: float) -> ColumnElement[Any]:
    if conn.dialect.name == "postgresql":
        return column + literal(timedelta(days=days))
    return func.julianday(column) + days


def _as_time(conn: Connection, column: Any) -> ColumnElement[Any]:
    return column if conn.dialect.name == "postgresql" else func.julianday(column)


def holdout_rows(
    conn: Connection, tenant_id: int, period: Period, window_days: float, currency: str
) -> Iterator[tuple[Any, ...]]:
    """Recipients against holdout, per flow (campaign None) and per campaign.

    A contact belongs to a flow's (or campaign's) holdout group when a message of it was held out for
    them in the period, else to its recipients when one was sent. They convert when they place a paid
    order in the shop's currency within ``window_days`` after their first message (sent or held out).
    Rows: flow, campaign, held (0/1), contacts, converted, revenue (summed like money), sum of squared
    revenue per contact (float, for the variance).
    """
    touched = (
        select(
            messages.c.flow,
            messages.c.campaign,
            messages.c.contact_id,
            _flag(messages.c.status == HOLDOUT).label("held"),
            func.min(_message_time()).label("first_at"),
        )
        .where(
            messages.c.tenant_id == tenant_id,
            messages.c.status.in_((*SENT, HOLDOUT)),
            *period.among(_message_time()),
        )
        .group_by(messages.c.flow, messages.c.campaign, messages.c.contact_id)
        .subquery()
    )
    placed = _as_time(conn, orders.c.created_at)
    per_contact = (
        select(
            touched.c.flow,
            touched.c.campaign,
            touched.c.held,
            func.count(orders.c.id).label("orders"),
            func.coalesce(func.sum(orders.c.total), 0).label("spent"),
        )
        .select_from(
            touched.outerjoin(
                orders,
                and_(
                    orders.c.tenant_id == tenant_id,
                    orders.c.contact_id == touched.c.contact_id,
                    orders.c.status.in_(REVENUE_STATUSES),
                    orders.c.currency == currency,
                    placed >= _as_time(conn, touched.c.first_at),
                    placed < _plus_days(conn, touched.c.first_at, window_days),
                ),
            )
        )
        .group_by(touched.c.flow, touched.c.campaign, touched.c.held, touched.c.contact_id)
        .subquery()
    )
    spent = per_contact.c.spent
    query = select(
        per_contact.c.flow,
        per_contact.c.campaign,
        per_contact.c.held,
        func.count(),
        _count(per_contact.c.orders > 0),
        _money_sum(conn, spent),
        func.sum(cast(spent, Float()) * cast(spent, Float())),
    ).group_by(per_contact.c.flow, per_contact.c.campaign, per_contact.c.held)
    for row in conn.execute(query):
        yield (*row[:5], money(conn, row[5]), float(row[6] or 0.0))


def has_holdouts(conn: Connection, tenant_id: int) -> bool:
    """True when any message of the tenant was held out."""
    found = conn.execute(
        select(messages.c.id).where(messages.c.tenant_id == tenant_id, messages.c.status == HOLDOUT).limit(1)
    ).first()
    return found is not None
