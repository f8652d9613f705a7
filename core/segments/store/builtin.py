"""The built-in segments as one SQL query: the four typologies, ``at_risk`` and ``new_customer``.

- ``cold_prospect``: no paid or completed order, no engagement event in the
  last ``engaged_days`` (90);
- ``warm_prospect``: no such order, but engaged in the last ``engaged_days``;
- ``occasional_customer``: at least one paid or completed order, fewer than
  ``loyal_orders`` (3) of them in the last ``loyal_days`` (365);
- ``loyal_customer``: at least ``loyal_orders`` in the last ``loyal_days``;
- ``at_risk``: a customer whose time since their last order is more than
  ``at_risk_factor`` (2) times their usual interval between orders, or more
  than ``at_risk_one_time_days`` (180) for one-time buyers. The usual interval
  is the one ``core.predictions`` gives (their gaps shrunk towards the shop's);
- ``new_customer``: first paid or completed order in the last ``new_customer_days`` (30).

Only known contacts (with an email or a phone) are in segments; each of them is
in exactly one typology.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Float, Integer, Select, and_, bindparam, case, func, literal, or_, select, union, union_all
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.sql.elements import ColumnElement

from core.model import REVENUE_STATUSES
from core.predictions import PurchaseModel
from core.segments.settings import Thresholds
from core.segments.store import dialect as sql
from core.segments.store.schema import contact_metrics
from core.store.schema import contacts, events, orders
from core.store.types import UTCDateTime

#: The statements below take their values as bound parameters (``builtin_params``), so that
#: each is built and compiled once per process, not once per event.
TENANT = bindparam("tenant_id", type_=Integer)
CONTACT = bindparam("contact_id", type_=Integer)


def _time(name: str) -> Any:
    return bindparam(name, type_=UTCDateTime)


def known_contact() -> ColumnElement[bool]:
    """Contacts we can reach: with an email or a phone (anonymous visitors are in no segment)."""
    return or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None))


def order_summary(scoped: bool = False, among: str | None = None) -> Any:
    """Per contact with a paid or completed order: counts, first and last order, spend.

    Each paid or completed order is a purchase: ``n_orders - 1`` repeat
    purchases between ``first_at`` and ``last_at`` for the predictions.
    Parameters: ``tenant_id``, ``loyal_since`` (and ``contact_id`` when scoped; with ``among``, the
    dialect's name, only the contacts of the parameter ``among``: ``dialect.among``).
    """
    recent = orders.c.created_at >= _time("loyal_since")
    conds = [orders.c.tenant_id == TENANT, orders.c.status.in_(REVENUE_STATUSES), orders.c.contact_id.is_not(None)]
    if scoped:
        conds.append(orders.c.contact_id == CONTACT)
    if among:
        conds.append(sql.among(among, orders.c.contact_id))
    return (
        select(
            orders.c.contact_id,
            func.count().label("n_orders"),
            func.sum(case((recent, 1), else_=0)).label("n_recent"),
            func.min(orders.c.created_at).label("first_at"),
            func.max(orders.c.created_at).label("last_at"),
            func.sum(orders.c.total).label("spent"),
        )
        .where(*conds)
        .group_by(orders.c.contact_id)
        .subquery("summary")
    )


def engaged_contacts(engagement_events: tuple[str, ...], scoped: bool = False, among: str | None = None) -> Any:
    """The contacts with an engagement event since ``engaged_since`` (``among``: as ``order_summary``)."""
    conds = [
        events.c.tenant_id == TENANT,
        events.c.name.in_(engagement_events),
        events.c.occurred_at >= _time("engaged_since"),
        events.c.contact_id.is_not(None),
    ]
    if scoped:
        conds.append(events.c.contact_id == CONTACT)
    if among:
        conds.append(sql.among(among, events.c.contact_id))
    return select(events.c.contact_id).where(*conds).group_by(events.c.contact_id).subquery("engaged")


def builtin_params(
    tenant_id: int, now: datetime, thresholds: Thresholds, model: PurchaseModel, contact_id: int | None = None
) -> dict[str, Any]:
    """The values of the parameters of ``builtin_query``."""
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "now": now,
        "loyal_since": now - timedelta(days=thresholds.loyal_days),
        "engaged_since": now - timedelta(days=thresholds.engaged_days),
        "new_since": now - timedelta(days=thresholds.new_customer_days),
        "loyal_orders": thresholds.loyal_orders,
        "at_risk_factor": thresholds.at_risk_factor,
        "one_time_days": float(thresholds.at_risk_one_time_days),
        "gap_k": model.k,
        "gap_beta": model.beta,
    }
    if contact_id is not None:
        params["contact_id"] = contact_id
    return params


@lru_cache(maxsize=64)
def builtin_query(
    dialect: str, engagement_events: tuple[str, ...], scoped: bool = False, among: bool = False
) -> Select[Any]:
    """SELECT contact_id, typology, at_risk (0/1), new_customer (0/1) for the tenant's known contacts.

    Parameters: ``builtin_params`` (with ``contact_id`` when ``scoped``; with ``among``, only the contacts
    of the parameter ``among``, ``dialect.among_value``).
    """
    within = dialect if among else None
    summary = order_summary(scoped, within)
    engaged = engaged_contacts(engagement_events, scoped, within)
    is_customer = summary.c.n_orders.is_not(None)
    typology = case(
        (and_(~is_customer, engaged.c.contact_id.is_not(None)), "warm_prospect"),
        (~is_customer, "cold_prospect"),
        (summary.c.n_recent >= bindparam("loyal_orders", type_=Integer), "loyal_customer"),
        else_="occasional_customer",
    )
    now = _time("now")
    idle = sql.days_between(dialect, summary.c.last_at, now)
    span = sql.days_between(dialect, summary.c.first_at, summary.c.last_at)
    k, beta = bindparam("gap_k", type_=Float), bindparam("gap_beta", type_=Float)
    interval = (beta + span) / (k + summary.c.n_orders - 1)
    factor, one_time = bindparam("at_risk_factor", type_=Float), bindparam("one_time_days", type_=Float)
    at_risk = case(
        (
            and_(
                is_customer,
                or_(
                    and_(summary.c.n_orders <= 1, idle > one_time),
                    and_(summary.c.n_orders > 1, idle > interval * factor),
                ),
            ),
            1,
        ),
        else_=0,
    )
    new_customer = case((and_(is_customer, summary.c.first_at >= _time("new_since")), 1), else_=0)
    conds = [contacts.c.tenant_id == TENANT, known_contact()]
    if scoped:
        conds.append(contacts.c.id == CONTACT)
    if among:
        conds.append(sql.among(dialect, contacts.c.id))
    return (
        select(
            contacts.c.id.label("contact_id"),
            typology.label("typology"),
            at_risk.label("at_risk"),
            new_customer.label("new_customer"),
        )
        .select_from(
            contacts.outerjoin(summary, summary.c.contact_id == contacts.c.id).outerjoin(
                engaged, engaged.c.contact_id == contacts.c.id
            )
        )
        .where(*conds)
    )


#: Margin on each side of a window's edge when looking for the contacts time moved across it (``moved_by_time``):
#: more contacts examined, never one missed for a rounding (the stored intervals are rounded to the microday).
EDGE_MARGIN = timedelta(hours=1)


def moved_params(tenant_id: int, since: datetime, until: datetime, thresholds: Thresholds) -> dict[str, Any]:
    """The values of the parameters of ``moved_by_time``: each window's edge as it moved from ``since`` to
    ``until``, widened by ``EDGE_MARGIN``."""
    margin = EDGE_MARGIN

    def edge(days: float) -> tuple[datetime, datetime]:
        return since - timedelta(days=days) - margin, until - timedelta(days=days) + margin

    loyal, new, engaged = edge(thresholds.loyal_days), edge(thresholds.new_customer_days), edge(thresholds.engaged_days)
    return {
        "tenant_id": tenant_id,
        "loyal_from": loyal[0],
        "loyal_to": loyal[1],
        "new_from": new[0],
        "new_to": new[1],
        "engaged_from": engaged[0],
        "engaged_to": engaged[1],
        "since": since,
        "until": until,
        "margin_days": margin / timedelta(days=1),
        "at_risk_factor": thresholds.at_risk_factor,
        "one_time_days": float(thresholds.at_risk_one_time_days),
    }


@lru_cache(maxsize=64)
def moved_by_time(dialect: str, engagement_events: tuple[str, ...]) -> Any:
    """The contacts whose built-in segments time alone may have changed between ``since`` and ``until``.

    Between two refreshes every event re-settles its contact's segments (``refresh.update_contact``), so
    what else can change a membership is time crossing one of its windows' edges:

    - a paid order leaving the ``loyal_days`` window (loyal to occasional) or the ``new_customer_days``
      window (out of ``new_customer``): ``orders`` by its ``(tenant_id, created_at)`` index;
    - an engagement event leaving the ``engaged_days`` window (warm to cold): ``events`` by its
      ``(tenant_id, name, occurred_at)`` index;
    - a customer's time since their last order passing their at-risk threshold: from their stored
      ``contact_metrics``, one row per customer. Every order's event rewrites its contact's row
      (``refresh.RECOMPUTE_EFFECTS``) and every refit everyone's; a backfill, whose pages skip that
      reaction, owes the next refresh every contact (``refresh.owe_full_refresh``).

    A superset (each edge widened by ``EDGE_MARGIN``, a contact counted once whatever moved it):
    the refresh recomputes exactly each contact found. Parameters: ``moved_params``.
    """
    paid = [orders.c.tenant_id == TENANT, orders.c.status.in_(REVENUE_STATUSES), orders.c.contact_id.is_not(None)]
    created = orders.c.created_at
    by_orders = select(orders.c.contact_id).where(
        *paid,
        or_(
            created.between(_time("loyal_from"), _time("loyal_to")),
            created.between(_time("new_from"), _time("new_to")),
        ),
    )
    by_events = select(events.c.contact_id).where(
        events.c.tenant_id == TENANT,
        events.c.name.in_(engagement_events),
        events.c.occurred_at.between(_time("engaged_from"), _time("engaged_to")),
        events.c.contact_id.is_not(None),
    )
    m = contact_metrics
    factor, one_time = bindparam("at_risk_factor", type_=Float), bindparam("one_time_days", type_=Float)
    margin = bindparam("margin_days", type_=Float)
    threshold = case((m.c.orders_count <= 1, one_time), else_=m.c.order_interval_days * factor)
    by_risk = select(m.c.contact_id).where(
        m.c.tenant_id == TENANT,
        m.c.orders_count > 0,
        sql.days_between(dialect, m.c.last_order_at, _time("since")) <= threshold + margin,
        sql.days_between(dialect, m.c.last_order_at, _time("until")) >= threshold - margin,
    )
    return union(by_orders, by_events, by_risk)


def wanted_pairs(query: Select[Any], dialect: str = "sqlite") -> Any:
    """(segment, contact_id) for every built-in membership the ``builtin_query`` rows stand for.

    On PostgreSQL each row is unnested into its one to three pairs as it streams by (no common table
    expression written once and read three times).
    """
    if dialect == "postgresql":
        calc = query.subquery("builtin")
        found = array(
            [
                calc.c.typology,
                case((calc.c.at_risk == 1, literal("at_risk")), else_=None),
                case((calc.c.new_customer == 1, literal("new_customer")), else_=None),
            ]
        )
        pairs = select(func.unnest(found).label("segment"), calc.c.contact_id).subquery("pairs")
        return select(pairs.c.segment, pairs.c.contact_id).where(pairs.c.segment.is_not(None))
    calc = query.cte("builtin")
    return union_all(
        select(calc.c.typology.label("segment"), calc.c.contact_id),
        select(literal("at_risk").label("segment"), calc.c.contact_id).where(calc.c.at_risk == 1),
        select(literal("new_customer").label("segment"), calc.c.contact_id).where(calc.c.new_customer == 1),
    )


def segments_in_row(row: Any) -> set[str]:
    """The built-in segments one ``builtin_query`` row puts its contact in."""
    found = {row.typology}
    if row.at_risk:
        found.add("at_risk")
    if row.new_customer:
        found.add("new_customer")
    return found
