"""Flow jobs: the sweep that hands due runs to workers in batches, and the batch job itself.

The database holds every run and its next due time; Redis only carries the
work. ``run_sweep`` (every 30 s) claims due runs for a while (a lease) and
enqueues them in batches of ``BATCH_SIZE``, a contact's runs always in one
batch; any number of workers run ``run_steps``. A job lost with Redis is
claimed again when its lease expires; a batch retried changes nothing twice.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from redis import Redis

from core.flows.engine import process_runs
from core.flows.registry import periodic_work
from core.flows.settings import tenant_flows
from core.flows.store.runs import DueRun, claim_due_runs
from core.store.tenants import get_tenant_by_id, list_tenants
from jobs import context, queues

log = logging.getLogger(__name__)

#: Runs per step job: large enough that RQ's cost per job is small against the steps.
BATCH_SIZE = 500
#: Runs claimed per query, and at most per sweep.
CLAIM_SIZE = 5000
SWEEP_MAX = 200_000
SEND_JOB = "jobs.send.run_send"


def batches(due: Iterable[DueRun], size: int | None = None) -> list[tuple[int, list[int]]]:
    """Split due runs into (tenant id, run ids) batches, never splitting one contact's runs."""
    size = size or BATCH_SIZE
    by_tenant: dict[int, list[DueRun]] = defaultdict(list)
    for run in due:
        by_tenant[run.tenant_id].append(run)
    out: list[tuple[int, list[int]]] = []
    for tenant_id, runs in sorted(by_tenant.items()):
        runs.sort(key=lambda r: (r.contact_id, r.id))
        chunk: list[int] = []
        previous = None
        for run in runs:
            if len(chunk) >= size and run.contact_id != previous:
                out.append((tenant_id, chunk))
                chunk = []
            chunk.append(run.id)
            previous = run.contact_id
        if chunk:
            out.append((tenant_id, chunk))
    return out


def enqueue_sends(redis: Redis, due: list[tuple[int, datetime]], now: datetime) -> int:
    """Hand messages to the send job: now for those due, at their time (RQ's scheduler) for the others."""
    by_time: dict[datetime | None, list[int]] = defaultdict(list)
    for message_id, due_at in due:
        by_time[None if due_at <= now + timedelta(seconds=1) else due_at].append(message_id)
    queue = queues.queue(redis)
    for due_at, ids in sorted(by_time.items(), key=lambda kv: kv[0] or now):
        if due_at is None:
            queues.enqueue(redis, SEND_JOB, sorted(ids))
        else:
            queue.enqueue_at(due_at, SEND_JOB, sorted(ids), retry=queues.RETRY)
    return len(by_time)


def run_sweep() -> dict[str, int]:
    """Claim the due runs of every tenant and enqueue them in batches; return counts."""
    runtime = context.current()
    now = runtime.clock()
    claimed = jobs = 0
    while claimed < SWEEP_MAX:
        with runtime.engine.begin() as conn:
            due = claim_due_runs(conn, now, CLAIM_SIZE)
        for tenant_id, ids in batches(due):
            queues.enqueue(runtime.redis, "jobs.flows.run_steps", tenant_id, ids)
            jobs += 1
        claimed += len(due)
        if len(due) < CLAIM_SIZE:
            break
    if claimed:
        log.info("flows: %d due runs in %d jobs", claimed, jobs)
    return {"claimed": claimed, "jobs": jobs}


def run_steps(tenant_id: int, run_ids: list[int]) -> dict[str, Any]:
    """Evaluate a batch of one tenant's runs, then hand the new messages to the send job."""
    runtime = context.current()
    now = runtime.clock()
    try:
        with runtime.engine.begin() as conn:
            tenant = get_tenant_by_id(conn, tenant_id)
            report = process_runs(conn, tenant, run_ids, now)
    except Exception:
        log.exception("flows: tenant %s: a batch of %d runs failed", tenant_id, len(run_ids))
        raise
    if report.sends:
        enqueue_sends(runtime.redis, report.sends, now)
    if report.coupons:
        queues.enqueue(runtime.redis, "jobs.coupons.run_coupons")  # the messages wait for their codes
    return {"runs": report.runs, "steps": report.steps, "messages": len(report.sends), **report.outcomes}


def run_periodic(name: str) -> dict[str, int]:
    """Run the flows' periodic work called ``name`` (``core.flows.registry.periodic_work``: the hourly
    date scan, the daily replenishment refresh...) for every tenant; return runs started per tenant."""
    work = {w.name: w for w in periodic_work()}[name]
    runtime = context.current()
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    done: dict[str, int] = {}
    for tenant in tenants:
        flows = tenant_flows(tenant.config.flows)
        with runtime.engine.begin() as conn:
            done[tenant.name] = work.run(conn, tenant, flows, now, timedelta(0))
    return done
