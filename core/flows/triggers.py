"""The flows' reaction to a stored event (``core.pipeline``): end the runs whose goal is reached, start new ones.

Runs in the transaction of the event. Each built-in flow started by a fact of
the shop has its own ``react`` (``core.flows.library``); flows triggered by an
event or a segment entry, and every flow's exit goals, are handled here. A run
starts only when its trigger is recent enough (``core.flows.starting``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.flows import registry
from core.flows.model import TriggerKind
from core.flows.plugin import Reaction
from core.flows.settings import tenant_flows
from core.flows.starting import begin_for_event
from core.flows.store.runs import end_contact_runs, remembering_waiting
from core.flows.waits import wake_for_event
from core.model import Event
from core.store.ingest import Ingested
from core.store.tenants import Tenant


def react(conn: Connection, tenant: Tenant, event: Event, ingested: Ingested, now: datetime) -> list[Event]:
    """Start and end the runs this event concerns; return follow-up events (none: flows emit when runs are due)."""
    contact_id = ingested.contact_id
    if "stale" in ingested.effects:
        return []
    flows = tenant_flows(tenant.config.flows)
    if not flows.by_name:
        return []
    if contact_id is None:
        if "product_changed" in ingested.effects:
            catalogue = Reaction(conn, tenant, flows, event, ingested, now)
            for flow in registry.BUILTIN:
                if flow.react_catalogue is not None and flow.name in flows.by_name:
                    flow.react_catalogue(catalogue)
        return []
    reaction = Reaction(conn, tenant, flows, event, ingested, now)
    with remembering_waiting(conn):
        for flow in registry.BUILTIN:
            if flow.react is not None and flow.name in flows.by_name:
                flow.react(reaction)
        name = reaction.name
        leaving = [
            d.name for d in flows.by_name.values() if any(goal.matches(name, event.properties) for goal in d.exits)
        ]
        if leaving:
            end_contact_runs(conn, tenant.id, contact_id, leaving, "goal", now)
    wake_for_event(conn, tenant.id, flows, contact_id, name, now)
    for definition in flows.by_name.values():
        trigger = definition.trigger
        if trigger.kind is TriggerKind.EVENT and trigger.event and trigger.event.matches(name, event.properties):
            begin_for_event(conn, tenant, definition, contact_id, event, now)
        elif (
            trigger.kind is TriggerKind.SEGMENT
            and name == "segment_entered"
            and event.properties.get("segment") == trigger.segment
        ):
            begin_for_event(conn, tenant, definition, contact_id, event, now)
    return []
