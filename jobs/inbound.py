"""Jobs of received deliveries: process a stored delivery; sweep the ones whose job was lost.

The web service stores a delivery and hands its id over (through the runtime
``relance.wiring`` builds, which calls ``enqueue_delivery``). Every delivery
has one job id, ``relance-delivery-<id>``, enqueued with ``unique=True``: the
request that stored it and the sweeper never queue it twice while its job is
alive.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from core.store.tenants import list_tenants
from inbound.deliveries import fail_delivery, get_delivery, pending_ids
from inbound.processing import process_delivery
from jobs import context, queues
from jobs.context import JobRuntime

log = logging.getLogger(__name__)

JOB = "jobs.inbound.run_delivery"
#: A delivery this recent may still be on its way to the queue: the sweeper leaves it.
SWEEP_GRACE = timedelta(seconds=60)
#: After this many attempts a delivery whose job died is left for a person (``relance deliveries``).
MAX_ATTEMPTS = 10
_DEAD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)


def delivery_job_id(delivery_id: int) -> str:
    return f"relance-delivery-{delivery_id}"


def enqueue_delivery(redis: Redis, delivery_id: int, pipeline: Pipeline | None = None) -> bool:
    """Queue the processing of a delivery; False when its job is already queued or running.

    With ``pipeline`` the job is added to it (executed by the caller, in one
    round trip with whatever else it holds) without the uniqueness check: the
    request that stored the delivery is its first enqueuer.
    """
    if pipeline is not None:
        queues.enqueue(redis, JOB, delivery_id, job_id=delivery_job_id(delivery_id), pipeline=pipeline)
        return True
    try:
        queues.enqueue(redis, JOB, delivery_id, job_id=delivery_job_id(delivery_id), unique=True)
    except DuplicateJobError:
        return False
    return True


def run_delivery(delivery_id: int) -> dict[str, Any]:
    """Process one stored delivery (see ``inbound.processing``); return its outcome."""
    runtime = context.current()
    outcome = process_delivery(runtime.engine, delivery_id, runtime.clock, redis=_redis_or_none(runtime))
    return {"delivery": outcome.delivery_id, "state": outcome.state, **outcome.result, "error": outcome.error}


def run_sweep() -> dict[str, int]:
    """Enqueue every pending delivery whose job is missing (Redis was down or flushed) or dead.

    Deliveries received in the last ``SWEEP_GRACE`` are left to the request
    that stored them. A delivery whose job died ``MAX_ATTEMPTS`` times is
    marked failed, for ``relance deliveries --failed`` and ``--replay``.
    """
    runtime = context.current()
    redis = runtime.redis
    cutoff = runtime.clock() - SWEEP_GRACE
    counts = {"enqueued": 0, "alive": 0, "given_up": 0}
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    for tenant in tenants:
        after_id = 0
        while True:
            with runtime.engine.connect() as conn:
                ids = pending_ids(conn, tenant.id, cutoff, after_id=after_id)
            for delivery_id in ids:
                counts[_sweep_one(runtime, redis, tenant.id, delivery_id)] += 1
            if len(ids) < 1000:
                break
            after_id = ids[-1]
    if counts["enqueued"] or counts["given_up"]:
        log.info("sweep: %(enqueued)d deliveries enqueued, %(alive)d still queued, %(given_up)d given up", counts)
    return counts


def _sweep_one(runtime: JobRuntime, redis: Redis, tenant_id: int, delivery_id: int) -> str:
    if enqueue_delivery(redis, delivery_id):
        return "enqueued"
    try:
        job = Job.fetch(delivery_job_id(delivery_id), connection=redis)
        status = job.get_status()
    except NoSuchJobError:  # finished and expired between the two calls
        return "enqueued" if enqueue_delivery(redis, delivery_id) else "alive"
    if status not in _DEAD:
        return "alive"
    with runtime.engine.begin() as conn:
        delivery = get_delivery(conn, delivery_id, tenant_id)
        if delivery.attempts >= MAX_ATTEMPTS:
            fail_delivery(
                conn,
                delivery_id,
                f"processing stopped {delivery.attempts} times without finishing; "
                f"replay it with 'relance deliveries --replay {delivery_id}' once the cause is fixed",
                runtime.clock(),
            )
            return "given_up"
    job.delete()
    return "enqueued" if enqueue_delivery(redis, delivery_id) else "alive"


def _redis_or_none(runtime: JobRuntime) -> Redis | None:
    try:
        return runtime.redis
    except Exception:  # noqa: BLE001 - metrics are best effort; processing does not need Redis
        return None
