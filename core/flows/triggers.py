"""Start and end runs as events are stored (the flows' reaction in ``core.pipeline``).

Runs in the transaction of the event. History rule: a run starts only when
its trigger is recent enough to still matter (``Definition.horizon``: 5 days
for a cart with the default delays, 14 days after a payment for cross-sell,
not after the predicted run-out for replenishment...). An import of a year of
old orders therefore starts nothing, and a simulation, whose clock follows the
events, starts everything at its time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from core.flows.model import Definition, FlowName, Reentry, RunState, TriggerKind, Wait
from core.flows.runs import end_contact_runs, end_runs, last_start, start_run, wake_runs
from core.flows.schema import flow_runs
from core.flows.settings import TenantFlows, tenant_flows
from core.model import REVENUE_STATUSES, Event
from core.store.ingest import Ingested
from core.store.schema import carts, contacts, order_items, orders
from core.store.tenants import Tenant

CART = FlowName.ABANDONED_CART.value
CROSS_SELL = FlowName.CROSS_SELL.value
REPLENISHMENT = FlowName.REPLENISHMENT.value


def first_due(definition: Definition, trigger_at: datetime, anchor: datetime) -> tuple[datetime, datetime | None]:
    """When a new run must first be looked at, and its first wait's end when that is known already."""
    first = definition.steps[0] if definition.steps else None
    if isinstance(first, Wait) and first.until_local is None:
        due = (anchor if first.from_anchor else trigger_at) + first.delay
        return due, due
    return trigger_at, None


def begin(
    conn: Connection,
    tenant: Tenant,
    definition: Definition,
    contact_id: int,
    key: str,
    trigger_at: datetime,
    now: datetime,
    anchor: datetime | None = None,
    context: dict[str, Any] | None = None,
) -> int | None:
    """Start a run of ``definition`` unless its trigger is too old or the key has a run already."""
    reference = anchor if definition.trigger.kind in (TriggerKind.REPLENISHMENT, TriggerKind.DATE) else trigger_at
    if reference is None or reference < now - definition.horizon:
        return None
    due, armed = first_due(definition, trigger_at, anchor or trigger_at)
    return start_run(
        conn, tenant.id, definition.name, contact_id, key, trigger_at, due, now, context, step_due_at=armed
    )


def _known(conn: Connection, tenant_id: int, contact_id: int) -> bool:
    row = conn.execute(
        select(contacts.c.email, contacts.c.phone).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).first()
    return row is not None and bool(row.email or row.phone)


def start_cart_run(
    conn: Connection, tenant: Tenant, flows: TenantFlows, cart_row_id: int, now: datetime, restart: bool = True
) -> None:
    """Start the abandoned-cart run of a cart, or (``restart``) restart its timing after an update."""
    definition = flows.by_name.get(CART)
    if definition is None:
        return
    cart = conn.execute(
        select(
            carts.c.id, carts.c.contact_id, carts.c.item_count, carts.c.updated_at, carts.c.converted_order_id
        ).where(carts.c.tenant_id == tenant.id, carts.c.id == cart_row_id)
    ).first()
    if cart is None or cart.contact_id is None or cart.item_count <= 0 or cart.converted_order_id is not None:
        return
    key = f"cart:{cart.id}"
    if not _known(conn, tenant.id, cart.contact_id):
        return
    created = begin(conn, tenant, definition, cart.contact_id, key, cart.updated_at, now, context={"cart": cart.id})
    if created is None and restart:
        # a run exists: the engine recomputes its timing from the cart's new last update
        wake_runs(conn, tenant.id, [flow_runs.c.flow == CART, flow_runs.c.trigger_key == key], now)


def _open_carts(conn: Connection, tenant: Tenant, flows: TenantFlows, contact_id: int, now: datetime) -> None:
    """A contact just became known (merged, or gave an email): their open carts may now be followed."""
    definition = flows.by_name.get(CART)
    if definition is None:
        return
    rows = conn.execute(
        select(carts.c.id).where(
            carts.c.tenant_id == tenant.id,
            carts.c.contact_id == contact_id,
            carts.c.item_count > 0,
            carts.c.converted_order_id.is_(None),
            carts.c.updated_at >= now - definition.horizon,
        )
    ).scalars()
    for cart_id in rows:
        start_cart_run(conn, tenant, flows, cart_id, now, restart=False)


def _order(conn: Connection, tenant_id: int, order_row_id: int) -> Any:
    return conn.execute(
        select(orders.c.id, orders.c.contact_id, orders.c.status, orders.c.created_at, orders.c.paid_at).where(
            orders.c.tenant_id == tenant_id, orders.c.id == order_row_id
        )
    ).first()


def start_replenishment(
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
    definition = flows.by_name.get(REPLENISHMENT)
    if definition is None:
        return 0
    days_before = flows.settings.replenishment.days_before
    started = 0
    waiting = [row for row in _waiting(conn, tenant.id, contact_id, REPLENISHMENT)]
    for product in dict.fromkeys(product_ids):
        interval = intervals.get(product)
        if interval is None or interval <= days_before:
            continue
        same = [row for row in waiting if row.context.get("product") == product]
        if any(row.trigger_at > bought_at for row in same):
            continue  # a newer purchase already governs the reminder
        older = [row.id for row in same if row.context.get("order") != order_row_id]
        if older:
            end_runs(conn, tenant.id, [flow_runs.c.id.in_(older)], RunState.CANCELLED, "reordered", now)
        anchor = bought_at + timedelta(days=interval - days_before)
        context = {"order": order_row_id, "product": product}
        key = f"replenish:{order_row_id}:{product}"
        if begin(conn, tenant, definition, contact_id, key, bought_at, now, anchor=anchor, context=context):
            started += 1
    return started


def _waiting(conn: Connection, tenant_id: int, contact_id: int, flow: str) -> list[Any]:
    return list(
        conn.execute(
            select(flow_runs.c.id, flow_runs.c.trigger_at, flow_runs.c.context).where(
                flow_runs.c.tenant_id == tenant_id,
                flow_runs.c.contact_id == contact_id,
                flow_runs.c.flow == flow,
                flow_runs.c.state == RunState.WAITING.value,
            )
        )
    )


def _paid_order(conn: Connection, tenant: Tenant, flows: TenantFlows, order_row_id: int, now: datetime) -> None:
    order = _order(conn, tenant.id, order_row_id)
    if order is None or order.contact_id is None or order.status not in REVENUE_STATUSES:
        return
    if not _known(conn, tenant.id, order.contact_id):
        return
    cross = flows.by_name.get(CROSS_SELL)
    paid_at = order.paid_at or order.created_at
    if cross is not None:
        begin(
            conn,
            tenant,
            cross,
            order.contact_id,
            f"order:{order.id}",
            paid_at,
            now,
            anchor=paid_at,
            context={"order": order.id},
        )
    if REPLENISHMENT in flows.by_name:
        from core.flows.replenishment import intervals_for

        items = [
            p
            for p in conn.execute(
                select(order_items.c.product_id).where(
                    order_items.c.tenant_id == tenant.id, order_items.c.order_id == order.id
                )
            ).scalars()
            if p
        ]
        if items:
            intervals = intervals_for(conn, tenant.id, flows.settings.replenishment, items)
            start_replenishment(
                conn, tenant, flows, order.contact_id, order.id, order.created_at, items, intervals, now
            )


def _order_undone(conn: Connection, tenant: Tenant, order_row_id: int, now: datetime) -> None:
    """A cancelled, refunded or failed order ends the runs it started."""
    order = _order(conn, tenant.id, order_row_id)
    if order is None or order.status in REVENUE_STATUSES or order.status == "pending":
        return
    end_runs(
        conn,
        tenant.id,
        [flow_runs.c.flow == CROSS_SELL, flow_runs.c.trigger_key == f"order:{order.id}"],
        RunState.EXITED,
        "order_cancelled",
        now,
    )
    for row in _waiting(conn, tenant.id, order.contact_id, REPLENISHMENT) if order.contact_id else ():
        if row.context.get("order") == order.id:
            end_runs(conn, tenant.id, [flow_runs.c.id == row.id], RunState.EXITED, "order_cancelled", now)


def custom_key(definition: Definition, contact_id: int, event: Event, trigger_at: datetime) -> str:
    """The trigger object of a run of one of the tenant's flows, by its re-entry rule."""
    if definition.reentry is Reentry.ONCE:
        return f"c{contact_id}"
    if definition.reentry is Reentry.YEARLY:
        return f"c{contact_id}:y{trigger_at.year}"
    if definition.reentry is Reentry.EVERY_DAYS:
        return f"c{contact_id}:t{int(trigger_at.timestamp())}"
    props = event.properties
    for key in ("cart_id", "order_id", "segment"):
        if props.get(key):
            return f"c{contact_id}:{key}:{props[key]}"
    return f"c{contact_id}:event:{event.message_id}"


def _start_custom(
    conn: Connection, tenant: Tenant, definition: Definition, contact_id: int, event: Event, now: datetime
) -> None:
    if not _known(conn, tenant.id, contact_id):
        return
    trigger_at = event.timestamp
    if definition.reentry is Reentry.EVERY_DAYS:
        last = last_start(conn, tenant.id, contact_id, definition.name)
        if last is not None and trigger_at < last + timedelta(days=definition.reentry_days):
            return
    key = custom_key(definition, contact_id, event, trigger_at)
    begin(conn, tenant, definition, contact_id, key, trigger_at, now, context={"event": event.message_id})


def react(conn: Connection, tenant: Tenant, event: Event, ingested: Ingested, now: datetime) -> None:
    """The flows' reaction to a stored event: end the runs whose goal is reached, start new ones."""
    effects = ingested.effects
    contact_id = ingested.contact_id
    if contact_id is None or "stale" in effects:
        return
    flows = tenant_flows(tenant.config.flows)
    if not flows.by_name:
        return
    name = ingested.name or event.name
    # exit goals first: an order ends the contact's abandoned carts at once
    if "order_created" in effects and CART in flows.by_name and ingested.order_id is not None:
        placed = _order(conn, tenant.id, ingested.order_id)
        if placed is not None:  # any order of the contact, placed after the cart's trigger (not an old one loaded late)
            where = [flow_runs.c.contact_id == contact_id, flow_runs.c.flow == CART]
            end_runs(
                conn, tenant.id, [*where, flow_runs.c.trigger_at <= placed.created_at], RunState.EXITED, "ordered", now
            )
    if "cart_emptied" in effects and ingested.cart_id is not None:
        end_runs(
            conn,
            tenant.id,
            [flow_runs.c.flow == CART, flow_runs.c.trigger_key == f"cart:{ingested.cart_id}"],
            RunState.EXITED,
            "cart_emptied",
            now,
        )
    if "order_status" in effects and ingested.order_id is not None:
        _order_undone(conn, tenant, ingested.order_id, now)
    custom = [d for d in flows.by_name.values() if not d.builtin]
    leaving = [d.name for d in custom if any(goal.matches(name, event.properties) for goal in d.exits)]
    if leaving:
        end_contact_runs(conn, tenant.id, contact_id, leaving, "goal", now)
    # then the triggers
    if "cart_changed" in effects and "cart_emptied" not in effects and ingested.cart_id is not None:
        start_cart_run(conn, tenant, flows, ingested.cart_id, now)
    elif "contact_merged" in effects or ("profile" in effects and (event.contact.email or event.contact.phone)):
        _open_carts(conn, tenant, flows, contact_id, now)
    if "order_paid" in effects and ingested.order_id is not None:
        _paid_order(conn, tenant, flows, ingested.order_id, now)
    for definition in custom:
        trigger = definition.trigger
        if trigger.kind is TriggerKind.EVENT and trigger.event and trigger.event.matches(name, event.properties):
            _start_custom(conn, tenant, definition, contact_id, event, now)
        elif (
            trigger.kind is TriggerKind.SEGMENT
            and name == "segment_entered"
            and event.properties.get("segment") == trigger.segment
        ):
            _start_custom(conn, tenant, definition, contact_id, event, now)
