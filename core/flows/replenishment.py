"""Replenishment: learned repurchase intervals, refreshed daily, and the reminders they lead to.

The intervals are learned from the tenant's orders (``core.recommendations``)
and kept in ``flow_intervals`` so that reacting to an order reads one row; a
per-product value in the settings wins. After each refresh, customers whose
latest purchase of such a product has no reminder yet get one (orders loaded by
an import, a flow switched on, a product that just became learnable).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select

from core.flows.model import FlowName
from core.flows.schema import flow_intervals, flow_runs
from core.flows.settings import Replenishment, TenantFlows
from core.flows.sql import among
from core.model import REVENUE_STATUSES
from core.recommendations import median_intervals, repurchase_gaps
from core.store.schema import order_items, orders
from core.store.tenants import Tenant


def intervals_for(
    conn: Connection, tenant_id: int, settings: Replenishment, product_ids: Iterable[str] | None = None
) -> dict[str, float]:
    """Product id -> repurchase interval in days: learned, overridden by the settings."""
    query = select(flow_intervals.c.product_id, flow_intervals.c.days).where(flow_intervals.c.tenant_id == tenant_id)
    wanted = None if product_ids is None else sorted(set(product_ids))
    if wanted is not None:
        query = query.where(flow_intervals.c.product_id.in_(wanted))
    found = {product: float(days) for product, days in conn.execute(query)}
    for product, days in settings.intervals.items():
        if wanted is None or product in wanted:
            found[product] = days
    return found


def refresh_intervals(conn: Connection, tenant_id: int, settings: Replenishment, now: datetime) -> dict[str, float]:
    """Learn the intervals again from the orders up to ``now`` and store them; return them."""
    gaps = repurchase_gaps(conn, tenant_id, now)
    learned = median_intervals(gaps, settings.min_pairs)
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


def schedule_reminders(conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime) -> int:
    """Start the reminders that are missing for customers' latest purchases; return how many started."""
    from core.flows.triggers import start_replenishment

    if FlowName.REPLENISHMENT.value not in flows.by_name:
        return 0
    intervals = intervals_for(conn, tenant.id, flows.settings.replenishment)
    if not intervals:
        return 0
    since = now - timedelta(days=max(intervals.values()))
    rows = conn.execute(
        select(orders.c.id, orders.c.contact_id, orders.c.created_at, order_items.c.product_id)
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(
            orders.c.tenant_id == tenant.id,
            orders.c.status.in_(REVENUE_STATUSES),
            orders.c.contact_id.is_not(None),
            orders.c.created_at >= since,
            orders.c.created_at <= now,
            order_items.c.product_id.in_(sorted(intervals)),
        )
        .order_by(orders.c.created_at, orders.c.id)
    )
    latest: dict[tuple[int, str], tuple[int, datetime]] = {}
    for order_id, contact_id, created_at, product_id in rows:
        latest[(contact_id, product_id)] = (order_id, created_at)  # rows come oldest first
    candidates = {
        pair: (order_id, bought_at)
        for pair, (order_id, bought_at) in latest.items()
        if bought_at + timedelta(days=intervals[pair[1]]) >= now  # not yet past the predicted run-out
    }
    keys = sorted({f"replenish:{order_id}:{pair[1]}" for pair, (order_id, _) in candidates.items()})
    existing: set[str] = set()
    for start in range(0, len(keys), 2000):
        existing.update(
            conn.execute(
                select(flow_runs.c.trigger_key).where(
                    flow_runs.c.tenant_id == tenant.id,
                    flow_runs.c.flow == FlowName.REPLENISHMENT.value,
                    among(conn, flow_runs.c.trigger_key, keys[start : start + 2000]),
                )
            ).scalars()
        )
    started = 0
    for (contact_id, product_id), (order_id, bought_at) in sorted(candidates.items()):
        if f"replenish:{order_id}:{product_id}" in existing:
            continue
        started += start_replenishment(
            conn, tenant, flows, contact_id, order_id, bought_at, [product_id], intervals, now
        )
    return started


def run_daily(conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime) -> int:
    """Refresh the learned intervals, then start the missing reminders."""
    if FlowName.REPLENISHMENT.value not in flows.by_name:
        return 0
    refresh_intervals(conn, tenant.id, flows.settings.replenishment, now)
    return schedule_reminders(conn, tenant, flows, now)
