"""The segments' reaction to a stored event (``core.pipeline``): keep the acting contact's segments current."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.model import Event
from core.segments.store.changes import SEGMENT_EVENTS, change_events
from core.segments.store.metrics import get_models
from core.segments.store.refresh import owe_full_refresh, update_contact
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


def owed(conn: Connection, tenant: Tenant) -> None:
    """A backfill stored events this reaction did not see (``core.pipeline.AT_END``): the next refresh of the
    tenant's segments recomputes every contact (``finish_backfill`` does, at the run's end)."""
    owe_full_refresh(conn, tenant.id)
