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
from core.store.ingest import analyze_loaded
from core.store.tenants import Tenant


def refresh_segments(conn: Connection, tenant: Tenant, now: datetime, metrics: bool = False) -> RefreshReport:
    """Recompute every segment of the tenant and record the ``segment_entered`` / ``segment_exited`` events."""
    report = refresh_tenant(conn, tenant, now, metrics=metrics)
    apply(conn, tenant, report.events, now)
    return report


def finish_backfill(conn: Connection, tenant: Tenant, now: datetime) -> RefreshReport:
    """After a first sync or an import of history: every contact's metrics and predictions, and every segment,
    computed once for the whole tenant (the models fitted when missing), their events recorded."""
    analyze_loaded(conn)
    return refresh_segments(conn, tenant, now, metrics=True)
