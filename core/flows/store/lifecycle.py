"""The queries of the lifecycle flows and of the engine's newer tests and contents.

Events a condition looks at, products a contact viewed, the fallbacks shown to
a prospect (trending, new arrivals), the scans of ``sunset`` and ``win_back``,
the runs waiting for a product to come back. Every function is scoped by
tenant and returns plain values.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select, update

from core.flows.model import RunState
from core.flows.store.schema import flow_runs
from core.flows.store.sql import among
from core.model import REVENUE_STATUSES
from core.segments.store.schema import contact_metrics
from core.store.schema import contacts, events, order_items, orders, products

#: What counts as engaging with the shop (``sunset``): an open, a click, a visit, an order.
ENGAGEMENT = (
    "email_opened",
    "email_clicked",
    "sms_clicked",
    "page_viewed",
    "product_viewed",
    "category_viewed",
    "cart_updated",
    "checkout_started",
    "order_placed",
    "survey_answered",
)


def latest_event(
    conn: Connection, tenant_id: int, contact_id: int, name: str, since: datetime
) -> dict[str, Any] | None:
    """The properties of the contact's latest event called ``name`` after ``since`` (None when there is none)."""
    row = conn.execute(
        select(events.c.properties)
        .where(
            events.c.tenant_id == tenant_id,
            events.c.contact_id == contact_id,
            events.c.name == name,
            events.c.occurred_at > since,
        )
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row.properties or {})


def did_any_since(conn: Connection, tenant_id: int, contact_id: int, names: Iterable[str], since: datetime) -> bool:
    """True when the contact has an event with one of ``names`` after ``since``."""
    return bool(
        conn.execute(
            select(
                exists().where(
                    events.c.tenant_id == tenant_id,
                    events.c.contact_id == contact_id,
                    events.c.name.in_(sorted(set(names))),
                    events.c.occurred_at > since,
                )
            )
        ).scalar()
    )


def viewed_products(
    conn: Connection, tenant_id: int, contact_ids: Sequence[int], since: datetime
) -> dict[int, list[tuple[str, datetime]]]:
    """Contact id -> (product id, latest view) of the products they viewed after ``since``, latest first."""
    found: dict[int, list[tuple[str, datetime]]] = defaultdict(list)
    ids = sorted(set(contact_ids))
    for start in range(0, len(ids), 2000):
        product = events.c.properties["product_id"].as_string()
        rows = conn.execute(
            select(events.c.contact_id, product, func.max(events.c.occurred_at))
            .where(
                events.c.tenant_id == tenant_id,
                among(conn, events.c.contact_id, ids[start : start + 2000]),
                events.c.name == "product_viewed",
                events.c.occurred_at > since,
            )
            .group_by(events.c.contact_id, product)
        )
        for contact_id, product_id, at in rows:
            if product_id:
                found[contact_id].append((str(product_id), at))
    for views in found.values():
        views.sort(key=lambda view: (view[1], view[0]), reverse=True)
    return dict(found)


def last_view_at(conn: Connection, tenant_id: int, contact_id: int, since: datetime) -> datetime | None:
    """When the contact last viewed a product after ``since``."""
    return conn.execute(
        select(func.max(events.c.occurred_at)).where(
            events.c.tenant_id == tenant_id,
            events.c.contact_id == contact_id,
            events.c.name == "product_viewed",
            events.c.occurred_at > since,
        )
    ).scalar()


def carted_or_ordered_since(conn: Connection, tenant_id: int, contact_ids: Sequence[int], since: datetime) -> set[int]:
    """The contacts among ``contact_ids`` with a cart update or an order after ``since``."""
    ids = sorted(set(contact_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 2000):
        found.update(
            conn.execute(
                select(events.c.contact_id)
                .where(
                    events.c.tenant_id == tenant_id,
                    among(conn, events.c.contact_id, ids[start : start + 2000]),
                    events.c.name.in_(["cart_updated", "checkout_started", "order_placed"]),
                    events.c.occurred_at > since,
                )
                .distinct()
            ).scalars()
        )
    return found


def new_arrivals(conn: Connection, tenant_id: int, limit: int) -> list[str]:
    """The products first seen most recently, in stock (or of unknown stock)."""
    return [
        p
        for p in conn.execute(
            select(products.c.external_id)
            .where(products.c.tenant_id == tenant_id, or_(products.c.in_stock.is_(None), products.c.in_stock.is_(True)))
            .order_by(products.c.id.desc())
            .limit(limit)
        ).scalars()
        if p
    ]


def first_order_after(conn: Connection, tenant_id: int, contact_ids: Sequence[int]) -> dict[int, datetime]:
    """Contact id -> when their latest order (any status) was placed."""
    ids = sorted(set(contact_ids))
    found: dict[int, datetime] = {}
    for start in range(0, len(ids), 2000):
        rows = conn.execute(
            select(orders.c.contact_id, func.max(orders.c.created_at))
            .where(orders.c.tenant_id == tenant_id, among(conn, orders.c.contact_id, ids[start : start + 2000]))
            .group_by(orders.c.contact_id)
        )
        found.update({cid: at for cid, at in rows})
    return found


def product_stock(conn: Connection, tenant_id: int, product_ids: Sequence[str]) -> dict[str, tuple[bool | None, Any]]:
    """Product id -> (in stock, last update); a product known from several sources: in stock wins."""
    found: dict[str, tuple[bool | None, Any]] = {}
    wanted = sorted({str(p) for p in product_ids})
    if not wanted:
        return found
    for product_id, in_stock, updated_at in conn.execute(
        select(products.c.external_id, products.c.in_stock, products.c.updated_at).where(
            products.c.tenant_id == tenant_id, products.c.external_id.in_(wanted)
        )
    ):
        if product_id in found and found[product_id][0] is True:
            continue
        found[product_id] = (in_stock, updated_at)
    return found


def bought_since(conn: Connection, tenant_id: int, contact_id: int, product_id: str, since: datetime) -> bool:
    """True when the contact ordered ``product_id`` (paid or completed) after ``since``."""
    return bool(
        conn.execute(
            select(
                exists().where(
                    orders.c.tenant_id == tenant_id,
                    orders.c.contact_id == contact_id,
                    orders.c.status.in_(REVENUE_STATUSES),
                    orders.c.created_at > since,
                    order_items.c.order_id == orders.c.id,
                    order_items.c.product_id == product_id,
                )
            )
        ).scalar()
    )


def waiting_keys(conn: Connection, tenant_id: int, flow: str, prefix: str) -> list[str]:
    """The trigger keys of the flow's waiting runs that start with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(
        conn.execute(
            select(flow_runs.c.trigger_key).where(
                flow_runs.c.tenant_id == tenant_id,
                flow_runs.c.flow == flow,
                flow_runs.c.state == RunState.WAITING.value,
                flow_runs.c.trigger_key.like(escaped + "%", escape="\\"),
            )
        ).scalars()
    )


def waiting_at(conn: Connection, tenant_id: int, contact_id: int, flows: Sequence[str]) -> list[Any]:
    """The contact's waiting runs of ``flows``: (id, flow, trigger key, position)."""
    if not flows:
        return []
    return list(
        conn.execute(
            select(flow_runs.c.id, flow_runs.c.flow, flow_runs.c.trigger_key, flow_runs.c.position).where(
                flow_runs.c.tenant_id == tenant_id,
                flow_runs.c.contact_id == contact_id,
                flow_runs.c.state == RunState.WAITING.value,
                flow_runs.c.flow.in_(sorted(set(flows))),
            )
        ).all()
    )


def wake(conn: Connection, tenant_id: int, run_ids: Sequence[int], now: datetime) -> int:
    """Make the waiting runs ``run_ids`` due now."""
    if not run_ids:
        return 0
    return conn.execute(
        update(flow_runs)
        .where(
            flow_runs.c.tenant_id == tenant_id,
            flow_runs.c.id.in_(sorted(set(run_ids))),
            flow_runs.c.state == RunState.WAITING.value,
        )
        .values(due_at=now, claimed_until=None, updated_at=now)
    ).rowcount


def quiet_contacts(
    conn: Connection, tenant_id: int, flow: str, since: datetime, limit: int, names: Sequence[str] = ENGAGEMENT
) -> list[int]:
    """Contacts opted in to email, known since before ``since``, with no engagement event after ``since``
    and no run of ``flow`` started after ``since`` (at most ``limit``, oldest first)."""
    engaged = exists().where(
        events.c.tenant_id == tenant_id,
        events.c.contact_id == contacts.c.id,
        events.c.name.in_(list(names)),
        events.c.occurred_at > since,
    )
    recent_run = exists().where(
        flow_runs.c.tenant_id == tenant_id,
        flow_runs.c.contact_id == contacts.c.id,
        flow_runs.c.flow == flow,
        flow_runs.c.trigger_at > since,
    )
    return list(
        conn.execute(
            select(contacts.c.id)
            .where(
                contacts.c.tenant_id == tenant_id,
                contacts.c.email.is_not(None),
                contacts.c.email_consent.is_(True),
                contacts.c.created_at <= since,
                or_(contacts.c.email_consent_at.is_(None), contacts.c.email_consent_at <= since),
                ~engaged,
                ~recent_run,
            )
            .order_by(contacts.c.id)
            .limit(limit)
        ).scalars()
    )


def fading_customers(
    conn: Connection, tenant_id: int, flow: str, below: float, since: datetime, limit: int
) -> list[int]:
    """Customers whose predicted probability of still being active is below ``below``, reachable, with no
    run of ``flow`` started after ``since``."""
    recent_run = exists().where(
        flow_runs.c.tenant_id == tenant_id,
        flow_runs.c.contact_id == contact_metrics.c.contact_id,
        flow_runs.c.flow == flow,
        flow_runs.c.trigger_at > since,
    )
    return list(
        conn.execute(
            select(contact_metrics.c.contact_id)
            .select_from(
                contact_metrics.join(
                    contacts, and_(contacts.c.id == contact_metrics.c.contact_id, contacts.c.tenant_id == tenant_id)
                )
            )
            .where(
                contact_metrics.c.tenant_id == tenant_id,
                contact_metrics.c.p_active.is_not(None),
                contact_metrics.c.p_active < below,
                or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None)),
                ~recent_run,
            )
            .order_by(contact_metrics.c.contact_id)
            .limit(limit)
        ).scalars()
    )
