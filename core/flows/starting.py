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

from core.flows.model import Definition, Reentry, Wait
from core.flows.store.queries import is_reachable
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
