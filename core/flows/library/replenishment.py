"""``replenishment``: ``days_before`` (5) days before the predicted run-out of a product bought again and again.

Repurchase intervals are learned from the tenant's orders (median days
between two purchases of a product by the same customer, at least
``min_pairs`` pairs) and kept in ``flow_intervals``, refreshed daily; a
per-product value in the settings wins. One run per order and product; a newer
purchase of the product replaces the reminder, the order cancelled ends it.
After each daily refresh, customers whose latest purchase of such a product
has no reminder yet get one (orders loaded by an import, a flow switched on, a
product that just became learnable).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core import normalize
from core.flows import values
from core.flows.config import TenantFlows
from core.flows.model import Definition, Reentry, RunState, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, PeriodicWork, Reaction
from core.flows.starting import begin
from core.flows.store import queries
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.runs import end_runs, waiting_runs
from core.model import REVENUE_STATUSES, Channel
from core.store.ingest import page_memo
from core.store.tenants import Tenant

NAME = "replenishment"
ORDER_EFFECTS = frozenset({"order_created", "order_changed", "order_status", "order_paid"})


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    days_before: int = 5
    min_pairs: int = 5
    intervals: Mapping[str, float] = field(default_factory=dict)  # product id -> days, wins over learning


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "days_before", "min_pairs", "intervals"), path)
    out = values.common(given, path)
    if "days_before" in given:
        out["days_before"] = values.integer(given["days_before"], f"{path}.days_before", 0, 60)
    if "min_pairs" in given:
        out["min_pairs"] = values.integer(given["min_pairs"], f"{path}.min_pairs", 1, 1000)
    if "intervals" in given:
        intervals = values.mapping(given["intervals"], f"{path}.intervals")
        out["intervals"] = {
            str(product): values.number(days, f"{path}.intervals.{product}", 1, 730)
            for product, days in intervals.items()
        }
    settings = Settings(**out)
    for product, days in settings.intervals.items():
        if days <= settings.days_before:
            raise values.fail(
                f"{path}.intervals.{product}", f"must be more than days_before ({settings.days_before}) days"
            )
    return settings


def define(settings: Settings) -> Definition:
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="repurchase due"),
        # the anchor is the reminder time: last purchase + interval - days_before
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=settings.channel,
                template=f"{NAME}/1",
                content="replenishment",
                expires=timedelta(days=max(settings.days_before, 1)),  # until the predicted run-out
            ),
        ),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=max(settings.days_before, 1)),
        builtin=True,
    )


def intervals_for(conn: Connection, tenant_id: int, settings: Settings, products: Any = None) -> dict[str, float]:
    """Product id -> repurchase interval in days: learned, overridden by the settings."""
    wanted = None if products is None else sorted(set(products))
    found = queries.learned_intervals(conn, tenant_id) if wanted is None else _learned(conn, tenant_id, wanted)
    for product, days in settings.intervals.items():
        if wanted is None or product in wanted:
            found[product] = days
    return found


def _learned(conn: Connection, tenant_id: int, products: list[str]) -> dict[str, float]:
    """``queries.learned_intervals`` of ``products``, each product asked once per page of events (``page_memo``:
    the orders of a page share their products; the intervals change only with the periodic learning)."""
    memo: dict[str, float | None] = page_memo(conn, f"flow_intervals:{tenant_id}", dict)
    missing = [product for product in products if product not in memo]
    if missing:
        found = queries.learned_intervals(conn, tenant_id, missing)
        memo.update({product: found.get(product) for product in missing})
    return {product: days for product in products if (days := memo[product]) is not None}


# -- triggers ---------------------------------------------------------------------------------


def start_reminders(
    conn: Connection,
    tenant: Tenant,
    flows: TenantFlows,
    contact_id: int,
    order_row_id: int,
    bought_at: datetime,
    product_ids: list[str],
    intervals: dict[str, float],
    now: datetime,
) -> int:
    """Start a reminder per product with a repurchase interval; a newer purchase replaces older reminders."""
    definition = flows.by_name[NAME]
    days_before = flows.settings.of(NAME).days_before
    started = 0
    waiting = waiting_runs(conn, tenant.id, contact_id, NAME)
    for product in dict.fromkeys(product_ids):
        interval = intervals.get(product)
        if interval is None or interval <= days_before:
            continue
        same = [row for row in waiting if row.context.get("product") == product]
        if any(row.trigger_at > bought_at for row in same):
            continue  # a newer purchase already governs the reminder
        older = [row.id for row in same if row.context.get("order") != order_row_id]
        if older:
            end_runs(conn, tenant.id, RunState.CANCELLED, "reordered", now, run_ids=older)
        anchor = bought_at + timedelta(days=interval - days_before)
        context = {"order": order_row_id, "product": product}
        key = f"replenish:{order_row_id}:{product}"
        if begin(conn, tenant, definition, contact_id, key, bought_at, now, anchor=anchor, context=context):
            started += 1
    return started


def react(r: Reaction) -> None:
    if r.ingested.order_id is None:
        return
    if "order_status" in r.effects:
        order = r.order()
        if (
            order is not None
            and order.contact_id
            and order.status not in REVENUE_STATUSES
            and order.status != "pending"
        ):
            for row in waiting_runs(r.conn, r.tenant.id, order.contact_id, NAME):
                if row.context.get("order") == order.id:
                    end_runs(r.conn, r.tenant.id, RunState.EXITED, "order_cancelled", r.now, run_ids=[row.id])
    if "order_paid" in r.effects:
        order = r.order()
        if order is None or order.contact_id is None or order.status not in REVENUE_STATUSES:
            return
        if not r.reachable(order.contact_id):
            return
        items = r.order_products()
        if items:
            intervals = intervals_for(r.conn, r.tenant.id, r.flows.settings.of(NAME), items)
            start_reminders(
                r.conn, r.tenant, r.flows, order.contact_id, order.id, order.created_at, items, intervals, r.now
            )


def schedule_reminders(conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime) -> int:
    """Start the reminders that are missing for customers' latest purchases; return how many started."""
    if NAME not in flows.by_name:
        return 0
    intervals = intervals_for(conn, tenant.id, flows.settings.of(NAME))
    if not intervals:
        return 0
    latest = queries.latest_purchases(
        conn, tenant.id, sorted(intervals), now - timedelta(days=max(intervals.values())), now
    )
    candidates = {
        pair: (order_id, bought_at)
        for pair, (order_id, bought_at) in latest.items()
        if bought_at + timedelta(days=intervals[pair[1]]) >= now  # not yet past the predicted run-out
    }
    keys = sorted({f"replenish:{order_id}:{pair[1]}" for pair, (order_id, _) in candidates.items()})
    existing = queries.existing_keys(conn, tenant.id, NAME, keys)
    started = 0
    for (contact_id, product_id), (order_id, bought_at) in sorted(candidates.items()):
        if f"replenish:{order_id}:{product_id}" in existing:
            continue
        started += start_reminders(conn, tenant, flows, contact_id, order_id, bought_at, [product_id], intervals, now)
    return started


def run_daily(
    conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, lookahead: timedelta = timedelta(0)
) -> int:
    """Learn the intervals again and store them, then start the missing reminders."""
    if NAME not in flows.by_name:
        return 0
    settings = flows.settings.of(NAME)
    queries.store_learned_intervals(conn, tenant.id, settings.min_pairs, now)
    return schedule_reminders(conn, tenant, flows, now)


# -- evaluation ---------------------------------------------------------------------------------


def _intervals(batch: Batch) -> dict[str, float]:
    products = {run.context.get("product") for run in batch.runs if run.flow == NAME}
    return intervals_for(batch.conn, batch.tenant.id, batch.flows.settings.of(NAME), products - {None})


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    order = batch.orders.get(run.context.get("order"))
    if order is None or order.status not in REVENUE_STATUSES:
        return "order_cancelled"
    latest = batch.latest_purchase.get((contact.id, run.context.get("product")))
    if latest is not None and latest > run.trigger_at:
        return "reordered"
    return None


def anchor(batch: Batch, run: RunRow, contact: ContactFacts) -> tuple[datetime | None, str]:
    interval = batch.memo(NAME, _intervals).get(run.context.get("product"))
    if interval is None:
        return None, "no_interval"
    days = interval - batch.flows.settings.of(NAME).days_before
    return run.trigger_at + timedelta(days=days), "no_interval"


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The product running out, and when."""
    order = batch.orders.get(run.context.get("order"))
    product = run.context.get("product")
    interval = batch.memo(NAME, _intervals).get(product) if product else None
    if order is None or not product or interval is None:
        return {"products": []}
    return {
        "products": [product],
        "order_id": order.external_id,
        "predicted_runout": normalize.isoformat(order.created_at + timedelta(days=interval)),
    }


FLOW = BuiltinFlow(
    name=NAME,
    priority=20,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    periodic=(PeriodicWork("replenishment", timedelta(days=1), run_daily, wakes_on=ORDER_EFFECTS),),
    exit_reason=exit_reason,
    anchor=anchor,
    contents={"replenishment": content},
)
