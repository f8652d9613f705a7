"""The segments' reaction to a stored event (``core.pipeline``): keep the acting contact's segments current."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.model import Event
from core.segments.store.changes import SEGMENT_EVENTS, change_events
from core.segments.store.metrics import get_models
from core.segments.store.refresh import update_contact
from core.store.ingest import Ingested, page_memo
from core.store.tenants import Tenant


def react(conn: Connection, tenant: Tenant, event: Event, ingested: Ingested, now: datetime) -> list[Event]:
    """The pipeline reaction: keep the acting contact's metrics and segments current; return the segment events."""
    if ingested.contact_id is None or event.name in SEGMENT_EVENTS or ingested.name in SEGMENT_EVENTS:
        return []
    models = page_memo(conn, "segment_models", lambda: get_models(conn, tenant.id))
    if models is None:  # before the tenant's first full refresh: nothing is kept current yet
        return []
    changes = update_contact(conn, tenant, ingested.contact_id, now, event, ingested.effects, models=models)
    return change_events(conn, tenant, changes, now) if changes else []


def update_contacts(conn: Connection, tenant: Tenant, contact_ids: list[int], now: datetime) -> list[Event]:
    """Recompute these contacts' metrics and segments once each (after a page of history); return the segment
    events. Nothing before the tenant's first full refresh (no models yet: that refresh computes everyone)."""
    models = get_models(conn, tenant.id) if contact_ids else None
    if models is None:
        return []
    changes = [c for contact_id in contact_ids for c in update_contact(conn, tenant, contact_id, now, models=models)]
    return change_events(conn, tenant, changes, now) if changes else []
