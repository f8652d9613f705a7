"""Campaign jobs: start the campaigns whose time has come and send their due recipients in batches.

``run_campaigns`` (every minute) goes through every tenant; each batch is one
transaction (``core.campaigns.sending.run_due``): recipients claimed, decided,
their messages written to the outbox and the recipients settled together, so
a worker killed mid-campaign loses nothing and sends nothing twice: the next
run takes the recipients still pending. The messages go through the send job
like any flow's.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from core.campaigns.sending import run_due
from core.store.tenants import list_tenants
from jobs import context
from jobs.flows import enqueue_sends

log = logging.getLogger(__name__)

#: Batches per tenant and run at most (the next run goes on).
MAX_PASSES = 200


def run_campaigns() -> dict[str, Any]:
    """One pass over every tenant's campaigns; return what was done."""
    runtime = context.current()
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    totals: Counter[str] = Counter()
    for tenant in tenants:
        for _ in range(MAX_PASSES):
            try:
                with runtime.engine.begin() as conn:
                    report = run_due(conn, tenant, now)
            except Exception:
                log.exception("campaigns: tenant %s: a batch failed; it is retried on the next run", tenant.id)
                raise
            if report.sends:
                enqueue_sends(runtime.redis, report.sends, now)
            for name in report.started:
                log.info("campaigns: tenant %s: campaign %s started", tenant.name, name)
            for name in report.finished:
                log.info("campaigns: tenant %s: campaign %s done", tenant.name, name)
            totals.update(report.outcomes)
            totals["messages"] += len(report.sends)
            if not report.more:
                break
    return dict(totals)
