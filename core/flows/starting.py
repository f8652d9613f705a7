"""Starting runs: when a new run is first due, the history rule, and the generic triggers' keys.

History rule: a run starts only when its trigger is recent enough to still
matter (``Definition.horizon``, counted from the run's anchor when it has one:
the greeting time, the predicted run-out). An import of a year of old orders
therefore starts nothing, and a simulation, whose clock follows the events,
starts everything at its time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.flows.config import TenantFlows
from core.flows.model import Definition, Reentry, TriggerKind, Wait
from core.flows.store.queries import is_reachable, members_without_run
from core.flows.store.runs import last_start, start_run
from core.model import Event
from core.store.tenants import Tenant


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
    """Start a run of ``definition`` unless its trigger (or anchor) is too old or the key has a run already."""
    reference = anchor or trigger_at
    if reference < now - definition.horizon:
        return None
    due, armed = first_due(definition, trigger_at, anchor or trigger_at)
    return start_run(
        conn, tenant.id, definition.name, contact_id, key, trigger_at, due, now, context, step_due_at=armed
    )


def event_key(definition: Definition, contact_id: int, event: Event, trigger_at: datetime) -> str:
    """The trigger object of a run started by an event, by the flow's re-entry rule."""
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


def segment_key(definition: Definition, contact_id: int, trigger_at: datetime) -> str:
    """The trigger object of a run started by the segment of a segment-triggered flow (as ``event_key``
    gives for a ``segment_entered``): a run for a member already in the segment and one for an entry share it."""
    if definition.reentry is Reentry.ONCE:
        return f"c{contact_id}"
    if definition.reentry is Reentry.YEARLY:
        return f"c{contact_id}:y{trigger_at.year}"
    if definition.reentry is Reentry.EVERY_DAYS:
        return f"c{contact_id}:t{int(trigger_at.timestamp())}"
    return f"c{contact_id}:segment:{definition.trigger.segment}"


def begin_for_members(conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime,
                      lookahead: timedelta = timedelta(0)) -> int:  # fmt: skip
    """Start a run for each contact already in the segment of a flow with ``include_existing_members``
    who never had a run of it (the periodic ``existing_members`` work); return how many started.

    Contacts who entered the segment with an event got their run from it; these are the ones who were
    in it before the flow existed, or when the segment was first filled (which records no entries).
    """
    started = 0
    for definition in flows.by_name.values():
        trigger = definition.trigger
        if trigger.kind is not TriggerKind.SEGMENT or not trigger.include_existing or not trigger.segment:
            continue
        for contact_id in members_without_run(conn, tenant.id, trigger.segment, definition.name):
            key = segment_key(definition, contact_id, now)
            context = {"segment": trigger.segment, "existing_member": True}
            if begin(conn, tenant, definition, contact_id, key, now, now, context=context):
                started += 1
    return started


def begin_for_event(
    conn: Connection, tenant: Tenant, definition: Definition, contact_id: int, event: Event, now: datetime
) -> int | None:
    """Start a run of a flow triggered by ``event`` (or a segment entry), under its re-entry rule."""
    if not is_reachable(conn, tenant.id, contact_id):
        return None
    trigger_at = event.timestamp
    if definition.reentry is Reentry.EVERY_DAYS:
        last = last_start(conn, tenant.id, contact_id, definition.name)
        if last is not None and trigger_at < last + timedelta(days=definition.reentry_days):
            return None
    key = event_key(definition, contact_id, event, trigger_at)
    return begin(conn, tenant, definition, contact_id, key, trigger_at, now, context={"event": event.message_id})
