"""The statistics recommendations are made from, read from the store: co-purchases, sales, catalogue, gaps.

Paid and completed orders only (``REVENUE_STATUSES``), up to ``now``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, select

from core.model import REVENUE_STATUSES
from core.recommendations import MIN_GAP_DAYS, STATS_DAYS, ProductInfo, Stats, median_intervals
from core.store.schema import order_items, orders, products


def _revenue(tenant_id: int, now: datetime, days: int) -> list:
    return [
        orders.c.tenant_id == tenant_id,
        orders.c.status.in_(REVENUE_STATUSES),
        orders.c.created_at <= now,
        orders.c.created_at >= now - timedelta(days=days),
    ]


def co_purchases(conn: Connection, tenant_id: int, now: datetime, days: int = STATS_DAYS) -> dict[str, dict[str, int]]:
    """For each product, the other products found in the same paid orders and how many orders."""
    first, second = order_items.alias("first"), order_items.alias("second")
    rows = conn.execute(
        select(first.c.product_id, second.c.product_id, func.count(func.distinct(first.c.order_id)))
        .select_from(
            first.join(
                second,
                and_(
                    second.c.order_id == first.c.order_id,
                    second.c.product_id != first.c.product_id,
                ),
            ).join(orders, orders.c.id == first.c.order_id)
        )
        .where(*_revenue(tenant_id, now, days), first.c.tenant_id == tenant_id, second.c.tenant_id == tenant_id)
        .group_by(first.c.product_id, second.c.product_id)
    )
    pairs: dict[str, dict[str, int]] = defaultdict(dict)
    for product, other, count in rows:
        if product and other:
            pairs[product][other] = count
    return dict(pairs)


def best_sellers(conn: Connection, tenant_id: int, now: datetime, days: int = STATS_DAYS) -> dict[str, int]:
    """Product id -> number of paid orders holding it."""
    rows = conn.execute(
        select(order_items.c.product_id, func.count(func.distinct(order_items.c.order_id)))
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(*_revenue(tenant_id, now, days), order_items.c.tenant_id == tenant_id)
        .group_by(order_items.c.product_id)
    )
    return {product: count for product, count in rows if product}


def catalogue(conn: Connection, tenant_id: int) -> dict[str, ProductInfo]:
    """The tenant's products by id (a product known from several sources: the one in stock wins)."""
    found: dict[str, ProductInfo] = {}
    rows = conn.execute(
        select(products.c.external_id, products.c.brand, products.c.categories, products.c.in_stock).where(
            products.c.tenant_id == tenant_id
        )
    )
    for product_id, brand, categories, in_stock in rows:
        if product_id in found and found[product_id].in_stock is not False:
            continue
        found[product_id] = ProductInfo(product_id, brand, tuple(categories or ()), in_stock)
    return found


def load_stats(conn: Connection, tenant_id: int, now: datetime, days: int = STATS_DAYS) -> Stats:
    return Stats(
        co_purchases(conn, tenant_id, now, days), best_sellers(conn, tenant_id, now, days), catalogue(conn, tenant_id)
    )


def purchased_products(conn: Connection, tenant_id: int, contact_ids: Iterable[int]) -> dict[int, set[str]]:
    """Every product each contact has ordered (any status), by contact id."""
    ids = sorted(set(contact_ids))
    bought: dict[int, set[str]] = {cid: set() for cid in ids}
    if not ids:
        return bought
    rows = conn.execute(
        select(orders.c.contact_id, order_items.c.product_id)
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(orders.c.tenant_id == tenant_id, orders.c.contact_id.in_(ids))
        .distinct()
    )
    for contact_id, product_id in rows:
        if product_id:
            bought[contact_id].add(product_id)
    return bought


def repurchase_gaps(conn: Connection, tenant_id: int, now: datetime) -> dict[str, list[float]]:
    """Product id -> days between consecutive purchases of it by the same customer (paid orders up to now)."""
    rows = conn.execute(
        select(orders.c.contact_id, order_items.c.product_id, orders.c.created_at)
        .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
        .where(
            orders.c.tenant_id == tenant_id,
            orders.c.status.in_(REVENUE_STATUSES),
            orders.c.created_at <= now,
            orders.c.contact_id.is_not(None),
            order_items.c.product_id.is_not(None),
        )
        .order_by(orders.c.contact_id, order_items.c.product_id, orders.c.created_at)
    )
    gaps: dict[str, list[float]] = defaultdict(list)
    previous: tuple[int, str, datetime] | None = None
    for contact_id, product_id, created_at in rows:
        if previous and previous[0] == contact_id and previous[1] == product_id:
            days = (created_at - previous[2]).total_seconds() / 86400
            if days < MIN_GAP_DAYS:
                continue  # the same purchase, completed by a second order
            gaps[product_id].append(days)
        previous = (contact_id, product_id, created_at)
    return dict(gaps)


def repurchase_intervals(conn: Connection, tenant_id: int, now: datetime, min_pairs: int = 5) -> dict[str, float]:
    """Product id -> median days between consecutive purchases of it by the same customer.

    Counts paid and completed orders up to ``now``; a product needs at least
    ``min_pairs`` pairs of consecutive purchases. Per-product overrides from
    the settings are the caller's to apply.
    """
    return median_intervals(repurchase_gaps(conn, tenant_id, now), min_pairs)
