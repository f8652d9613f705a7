"""Segment jobs: the periodic full refresh of every tenant's segments (incremental updates run in the pipeline).

``run_refresh_all`` (hourly) enqueues one ``run_refresh`` per tenant on the bulk
queue. A refresh is one transaction: run twice, the second finds nothing to
change. It recomputes the built-in segments of only the contacts time moved since
the last one, or of every contact after a refit (``core.segments.store.refresh``). The purchase model and RFM breakpoints are refitted, with every
contact's metrics, once they are older than ``core.segments.store.refresh.REFIT_AFTER``.
"""

from __future__ import annotations

import logging
from typing import Any

from core.operations import refresh_segments
from core.store.tenants import get_tenant_by_id, list_tenants
from jobs import context, queues

log = logging.getLogger(__name__)


def run_refresh(tenant_id: int, metrics: bool = False) -> dict[str, Any]:
    """Refresh one tenant's segments (and, with ``metrics``, every contact's metrics); return what changed."""
    runtime = context.current()
    now = runtime.clock()
    try:
        with runtime.engine.begin() as conn:
            tenant = get_tenant_by_id(conn, tenant_id)
            report = refresh_segments(conn, tenant, now, metrics=metrics)
    except Exception:
        log.exception("tenant %s: segment refresh failed", tenant_id)
        raise
    log.info(
        "tenant %s: segments refreshed (%s examined, %d entered, %d exited, filled %s)",
        tenant.name,
        "every contact" if report.examined is None else f"{report.examined} contacts moved by time",
        sum(report.entered.values()),
        sum(report.exited.values()),
        ",".join(report.filled) or "none",
    )
    return {
        "entered": report.entered,
        "exited": report.exited,
        "filled": report.filled,
        "metrics_written": report.metrics_written,
        "refitted": report.refitted,
        "examined": report.examined,
    }


def run_refresh_all() -> int:
    """Enqueue a refresh of every tenant; return how many were enqueued."""
    runtime = context.current()
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    for tenant in tenants:
        queues.enqueue(runtime.redis, "jobs.segments.run_refresh", tenant.id, queue_name=queues.BULK)
    return len(tenants)
