"""Whole-tenant work whose follow-up events go through the pipeline.

Reactions return their follow-up events to the pipeline; work that is not a
reaction (a full segment refresh) returns them too, and the functions here
are what jobs and commands call to do the work and record its events in one
transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.pipeline import apply
from core.segments.store.refresh import RefreshReport, refresh_tenant
from core.store.ingest import analyze_columns
from core.store.tenants import Tenant

#: What the refresh reads of the tables a backfill filled: their planner statistics are refreshed first (autovacuum
#: may lag far behind a bulk load). These columns only: statistics of every column (the events' and items' JSON
#: detoasted) cost the whole analysis 4x as long, for plans of no statement here.
REFRESH_INPUTS = {
    "contacts": ("id", "tenant_id", "email", "phone"),
    "orders": ("tenant_id", "contact_id", "status", "created_at"),
    "events": ("tenant_id", "contact_id", "name", "occurred_at"),
}


def refresh_segments(
    conn: Connection, tenant: Tenant, now: datetime, metrics: bool = False, full: bool = False
) -> RefreshReport:
    """Recompute every segment of the tenant and record the ``segment_entered`` / ``segment_exited`` events
    (``core.segments.store.refresh.refresh_tenant``: ``full`` recomputes every contact's built-in segments,
    ``metrics`` every contact's metrics too)."""
    report = refresh_tenant(conn, tenant, now, metrics=metrics, full=full)
    apply(conn, tenant, report.events, now)
    return report


def finish_backfill(conn: Connection, tenant: Tenant, now: datetime) -> RefreshReport:
    """After a first sync or an import of history: every contact's metrics and predictions, and every segment,
    computed once for the whole tenant (the models fitted when missing), their events recorded."""
    analyze_columns(conn, REFRESH_INPUTS)
    return refresh_segments(conn, tenant, now, metrics=True)
