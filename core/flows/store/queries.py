"""The queries of the flows' modules: triggers, scans, the engine's tests, the simulation's fake delivery.

Every function is scoped by tenant and returns plain values or rows. Those the per-event reactions run
(``is_reachable``, ``orders_for_run``...) are built once and run with parameters (see ``runs``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, extract, insert, or_, select, update

from core.flows.store.schema import flow_intervals, flow_runs
from core.flows.store.sql import among
from core.model import REVENUE_STATUSES
from core.recommendations import median_intervals
from core.segments.store.schema import segment_members
from core.store.recommendations import repurchase_gaps
from core.store.schema import carts, contacts, events, messages, order_items, orders

# -- contacts, carts and orders -------------------------------------------------------------------


_REACHABLE = select(contacts.c.email, contacts.c.phone).where(
    contacts.c.tenant_id == bindparam("b_tenant"), contacts.c.id == bindparam("b_id")
)


def is_reachable(conn: Connection, tenant_id: int, contact_id: int) -> bool:
    """True when the contact has an email or a phone (someone a flow can write to)."""
    row = conn.execute(_REACHABLE, {"b_tenant": tenant_id, "b_id": contact_id}).first()
    return row is not None and bool(row.email or row.phone)


_CART = select(
    carts.c.id, carts.c.contact_id, carts.c.item_count, carts.c.updated_at, carts.c.converted_order_id
).where(carts.c.tenant_id == bindparam("b_tenant"), carts.c.id == bindparam("b_id"))


def cart_for_run(conn: Connection, tenant_id: int, cart_row_id: int) -> Any:
    """The cart's id, contact, item count, last update and converting order (None when gone)."""
    return conn.execute(_CART, {"b_tenant": tenant_id, "b_id": cart_row_id}).first()


_OPEN_CARTS = select(carts.c.id).where(
    carts.c.tenant_id == bindparam("b_tenant"),
    carts.c.contact_id == bindparam("b_contact"),
    carts.c.item_count > 0,
    carts.c.converted_order_id.is_(None),
    carts.c.updated_at >= bindparam("b_since", type_=carts.c.updated_at.type),
)


def open_cart_ids(conn: Connection, tenant_id: int, contact_id: int, since: datetime) -> list[int]:
    """The contact's carts with items, not converted, updated since ``since``."""
    return list(conn.execute(_OPEN_CARTS, {"b_tenant": tenant_id, "b_contact": contact_id, "b_since": since}).scalars())


_ORDERS = select(orders.c.id, orders.c.contact_id, orders.c.status, orders.c.created_at, orders.c.paid_at).where(
    orders.c.tenant_id == bindparam("b_tenant"), orders.c.id.in_(bindparam("b_ids", expanding=True))
)


def orders_for_run(conn: Connection, tenant_id: int, order_row_ids: Sequence[int]) -> dict[int, Any]:
    """Orders' id, contact, status, creation and payment times: order id -> its row (those gone are left out)."""
    ids = sorted(set(order_row_ids))
    if not ids:
        return {}
    return {row.id: row for row in conn.execute(_ORDERS, {"b_tenant": tenant_id, "b_ids": ids})}


_ORDERS_PRODUCTS = (
    select(order_items.c.order_id, order_items.c.product_id)
    .where(
        order_items.c.tenant_id == bindparam("b_tenant"), order_items.c.order_id.in_(bindparam("b_ids", expanding=True))
    )
    .order_by(order_items.c.order_id, order_items.c.position)
)


def orders_product_ids(conn: Connection, tenant_id: int, order_row_ids: Sequence[int]) -> dict[int, list[str]]:
    """Order id -> the product ids of its lines, in order (an order without lines, or gone, gets an empty
    list)."""
    ids = sorted(set(order_row_ids))
    found: dict[int, list[str]] = {order_id: [] for order_id in ids}
    if ids:
        for order_id, product_id in conn.execute(_ORDERS_PRODUCTS, {"b_tenant": tenant_id, "b_ids": ids}):
            if product_id:
                found[order_id].append(product_id)
    return found


_DID_SINCE = select(
    exists().where(
        events.c.tenant_id == bindparam("b_tenant"),
        events.c.contact_id == bindparam("b_contact"),
        events.c.name == bindparam("b_name"),
        events.c.occurred_at > bindparam("b_since", type_=events.c.occurred_at.type),
    )
)


def did_since(conn: Connection, tenant_id: int, contact_id: int, name: str, since: datetime) -> bool:
    """True when the contact has an event called ``name`` after ``since``."""
    params = {"b_tenant": tenant_id, "b_contact": contact_id, "b_name": name, "b_since": since}
    return bool(conn.execute(_DID_SINCE, params).scalar())


def birthdays_on(conn: Connection, tenant_id: int, month_days: Sequence[int]) -> list[Any]:
    """Reachable contacts whose birthday (month * 100 + day) is among ``month_days``: (id, birthday, timezone)."""
    month_day = extract("month", contacts.c.birthday) * 100 + extract("day", contacts.c.birthday)
    return list(
        conn.execute(
            select(contacts.c.id, contacts.c.birthday, contacts.c.timezone).where(
                contacts.c.tenant_id == tenant_id,
                contacts.c.birthday.is_not(None),
                or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None)),
                month_day.in_(list(month_days)),
            )
        ).all()
    )


# -- runs ---------------------------------------------------------------------------------------


def members_without_run(conn: Connection, tenant_id: int, segment: str, flow: str) -> list[int]:
    """The reachable contacts in ``segment`` who never had a run of ``flow`` (for ``include_existing_members``)."""
    had_run = exists(
        select(flow_runs.c.id).where(
            flow_runs.c.tenant_id == tenant_id,
            flow_runs.c.flow == flow,
            flow_runs.c.contact_id == segment_members.c.contact_id,
        )
    )
    query = (
        select(segment_members.c.contact_id)
        .join(contacts, contacts.c.id == segment_members.c.contact_id)
        .where(
            segment_members.c.tenant_id == tenant_id,
            segment_members.c.segment == segment,
            or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None)),
            ~had_run,
        )
        .order_by(segment_members.c.contact_id)
    )
    return list(conn.execute(query).scalars())


def existing_keys(conn: Connection, tenant_id: int, flows: Iterable[str], keys: Sequence[str]) -> set[tuple[str, str]]:
    """The (flow, trigger key) pairs among ``keys`` that already have a run."""
    names = sorted(set(flows))
    found: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 2000):
        found.update(
            (flow, key)
            for flow, key in conn.execute(
                select(flow_runs.c.flow, flow_runs.c.trigger_key).where(
                    flow_runs.c.tenant_id == tenant_id,
                    flow_runs.c.flow.in_(names),
                    among(conn, flow_runs.c.trigger_key, keys[start : start + 2000]),
                )
            )
        )
    return found


# -- repurchase intervals -------------------------------------------------------------------------


_LEARNED = select(flow_intervals.c.product_id, flow_intervals.c.days).where(
    flow_intervals.c.tenant_id == bindparam("b_tenant")
)
_LEARNED_OF = _LEARNED.where(flow_intervals.c.product_id.in_(bindparam("b_products", expanding=True)))


def learned_intervals(conn: Connection, tenant_id: int, products: Sequence[str] | None = None) -> dict[str, float]:
    """Product id -> the stored learned interval in days (of ``products`` only, when given)."""
    if products is None:
        rows = conn.execute(_LEARNED, {"b_tenant": tenant_id})
    elif not products:
        return {}
    else:
        rows = conn.execute(_LEARNED_OF, {"b_tenant": tenant_id, "b_products": list(products)})
    return {product: float(days) for product, days in rows}


def store_learned_intervals(conn: Connection, tenant_id: int, min_pairs: int, now: datetime) -> dict[str, float]:
    """Learn the intervals from the orders up to ``now``, replace the stored ones; return them."""
    gaps = repurchase_gaps(conn, tenant_id, now)
    learned = median_intervals(gaps, min_pairs)
    conn.execute(delete(flow_intervals).where(flow_intervals.c.tenant_id == tenant_id))
    if learned:
        conn.execute(
            insert(flow_intervals),
            [
                {"tenant_id": tenant_id, "product_id": p, "days": d, "pairs": len(gaps[p]), "computed_at": now}
                for p, d in sorted(learned.items())
            ],
        )
    return learned


def latest_purchases(
    conn: Connection, tenant_id: int, product_ids: Sequence[str], since: datetime, now: datetime
) -> dict[tuple[int, str], tuple[int, datetime]]:
    """(contact id, product id) -> (order id, time) of the latest paid purchase between ``since`` and ``now``."""
    rows = conn.execute(
        select(orders.c.id, orders.c.contact_id, orders.c.created_at, order_items.c.product_id)
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(
            orders.c.tenant_id == tenant_id,
            orders.c.status.in_(REVENUE_STATUSES),
            orders.c.contact_id.is_not(None),
            orders.c.created_at >= since,
            orders.c.created_at <= now,
            order_items.c.product_id.in_(list(product_ids)),
        )
        .order_by(orders.c.created_at, orders.c.id)
    )
    latest: dict[tuple[int, str], tuple[int, datetime]] = {}
    for order_id, contact_id, created_at, product_id in rows:
        latest[(contact_id, product_id)] = (order_id, created_at)  # rows come oldest first
    return latest


# -- the simulation's fake delivery -------------------------------------------------------------------


def next_scheduled_message(conn: Connection, tenant_id: int) -> datetime | None:
    return conn.execute(
        select(messages.c.due_at)
        .where(messages.c.tenant_id == tenant_id, messages.c.status == "scheduled")
        .order_by(messages.c.due_at)
        .limit(1)
    ).scalar()


def due_messages(conn: Connection, tenant_id: int, now: datetime) -> list[Any]:
    """Scheduled messages due by ``now``, with their contact's current consents, in time order."""
    return list(
        conn.execute(
            select(messages, contacts.c.email_consent, contacts.c.sms_consent)
            .join(contacts, contacts.c.id == messages.c.contact_id)
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.status == "scheduled",
                messages.c.due_at <= now,
            )
            .order_by(messages.c.due_at, messages.c.id)
        ).all()
    )


def settle_message(
    conn: Connection, message_id: int, status: str, reason: str | None, sent_at: datetime, now: datetime
) -> None:
    conn.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(status=status, reason=reason, sent_at=sent_at, updated_at=now)
    )
