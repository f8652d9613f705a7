"""Jobs of received deliveries: hand stored ids over, drain them in batches, sweep the ones that were lost.

The web service stores a delivery, then hands its id over through the
runtime ``relance.wiring`` builds, which calls a ``HandOver``: one Redis
command (a small Lua script) that pushes the id onto the ``INCOMING`` list
and raises the ``DRAIN_FLAG``. Whoever raises the flag (it was down) enqueues one
``run_drain`` job (a second round trip, once per drain, not per delivery).
A drain job lowers the flag first, then claims ids in batches (moved to the
``CLAIMED`` sorted set, scored by the claim time) and processes them; an id
pushed after the flag went down raises it again, so every id is pushed before
some drain starts popping.

The database stays the truth: ``run_sweep`` (every minute) queues a
per-delivery job (``relance-delivery-<id>``, ``unique=True``) for each
pending delivery older than ``SWEEP_GRACE`` that is neither waiting in
``INCOMING`` nor claimed in the last ``CLAIM_TIMEOUT`` (Redis was down or
flushed, a worker died mid-batch, a drain's attempt failed).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import timedelta
from itertools import chain
from typing import Any

from redis import Redis
from redis.exceptions import NoScriptError
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from core.errors import NotFoundError
from core.store.tenants import list_tenants
from inbound.deliveries import fail_delivery, get_delivery, pending_ids
from inbound.errors import RetryableDeliveryError
from inbound.processing import process_delivery
from jobs import context, queues
from jobs.context import JobRuntime

log = logging.getLogger(__name__)

JOB = "jobs.inbound.run_delivery"
DRAIN_JOB = "jobs.inbound.run_drain"
#: Stored delivery ids waiting for a drain (LPUSH by the web service, popped from the right).
INCOMING = "relance:deliveries:incoming"
#: Ids a drain is processing, scored by the claim time (seconds since the epoch, the runtime's clock).
CLAIMED = "relance:deliveries:claimed"
#: Up while a drain job is queued and has not started yet; whoever raises it enqueues the drain.
DRAIN_FLAG = "relance:deliveries:drain"
#: The flag falls by itself after this (seconds): an enqueue lost with its process is redone by the next push.
DRAIN_FLAG_TTL = 10
#: Ids claimed at a time by a drain.
DRAIN_BATCH = 100
#: A drain stops after this long (seconds) and leaves the rest to the next drain (fairness with other jobs).
DRAIN_BUDGET = 20.0
#: A drain stops after this many deliveries in a row failed for a reason a retry may fix (the database is down).
DRAIN_FAILURES = 3
#: A claim older than this belongs to a drain that died: the sweeper takes the delivery over.
CLAIM_TIMEOUT = timedelta(minutes=5)
#: A delivery this recent may still be on its way to the queue: the sweeper leaves it.
SWEEP_GRACE = timedelta(seconds=60)
#: After this many attempts a delivery whose job died is left for a person (``relance deliveries``).
MAX_ATTEMPTS = 10
_DEAD = (JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)

# Pops up to ARGV[1] ids from the right of INCOMING and scores them in CLAIMED with ARGV[2], atomically.
_CLAIM = """
local ids = {}
for i = 1, tonumber(ARGV[1]) do
  local id = redis.call('RPOP', KEYS[1])
  if not id then break end
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  ids[i] = id
end
return ids
"""
# The hand-over of one stored id (HandOver): counts the request (when KEYS[3] is given), pushes the id onto
# INCOMING and raises the drain flag; returns the SET's reply (nil when the flag was already up).
_HAND_OVER = """
if KEYS[3] then redis.call('HINCRBY', KEYS[3], ARGV[3], 1) end
redis.call('LPUSH', KEYS[1], ARGV[1])
return redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[2])
"""
_HAND_OVER_SHA = hashlib.sha1(_HAND_OVER.encode(), usedforsecurity=False).hexdigest()


def delivery_job_id(delivery_id: int) -> str:
    return f"relance-delivery-{delivery_id}"


class HandOver:
    """Hands stored deliveries over to the drains from one process (the web service), cheaply per call.

    One command, one reply: ``_HAND_OVER`` (a Lua script, run by its SHA1;
    sent whole the first time and after Redis lost its scripts) increments
    the counter ``count`` names (a ``(hash, field)``), pushes the id and
    raises the flag, in that order, atomically. It is written on a
    connection of ``redis``'s pool kept by each thread rather than through
    a pipeline borrowing one per call: redis-py's per-call machinery was
    most of the intake's Redis cost. A second round trip only when the flag
    was down, to enqueue the drain job. A connection that failed is dropped
    (the next call opens another). Raises RedisError or OSError when Redis
    is unavailable: the delivery stays pending and the sweeper queues it
    later.
    """

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._local = threading.local()

    def __call__(self, delivery_id: int, count: tuple[str, str] | None = None) -> bool:
        """Hand ``delivery_id`` over (and count ``count``); return True when this call enqueued a drain job."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.redis.connection_pool.make_connection()
        keys, args = (INCOMING, DRAIN_FLAG), (delivery_id, DRAIN_FLAG_TTL)
        if count is not None:
            keys, args = (*keys, count[0]), (*args, count[1])
        try:
            try:
                conn.send_packed_command(conn.pack_command("EVALSHA", _HAND_OVER_SHA, len(keys), *keys, *args))
                reply = conn.read_response()
            except NoScriptError:  # a new or restarted Redis: the script is sent whole (and kept by Redis)
                conn.send_packed_command(conn.pack_command("EVAL", _HAND_OVER, len(keys), *keys, *args))
                reply = conn.read_response()
        except BaseException:
            self._local.conn = None
            conn.disconnect()
            raise
        raised = reply is not None
        if raised:
            queues.enqueue(self.redis, DRAIN_JOB)
        return raised


def wake_drain(redis: Redis) -> bool:
    """Enqueue a drain job unless one is already queued (the flag is up); return True when enqueued."""
    if redis.set(DRAIN_FLAG, 1, nx=True, ex=DRAIN_FLAG_TTL):
        queues.enqueue(redis, DRAIN_JOB)
        return True
    return False


def enqueue_delivery(redis: Redis, delivery_id: int) -> bool:
    """Queue a job processing one delivery; False when its job is already queued or running (the sweeper's path)."""
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


def run_drain() -> dict[str, int]:
    """Process the handed-over deliveries in batches until none is left or the time budget is spent.

    Returns how many deliveries were processed (whatever their outcome) and
    how many failed for a reason a retry may fix (left pending, noted; the
    sweeper queues them again), and how many were not found (deleted).
    When ``DRAIN_FAILURES`` fail in a row, or one fails outside the
    processing's own handling (the database is down), the rest of the batch
    is put back and the error is raised so that RQ retries the drain later.
    """
    runtime = context.current()
    redis = runtime.redis
    redis.delete(DRAIN_FLAG)  # first: an id pushed from now on raises the flag again
    claim = redis.register_script(_CLAIM)
    started = time.monotonic()
    counts = {"processed": 0, "retry": 0, "unknown": 0}
    failures = 0
    while time.monotonic() - started < DRAIN_BUDGET:
        ids = [int(raw) for raw in claim(keys=[INCOMING, CLAIMED], args=[DRAIN_BATCH, runtime.clock().timestamp()])]
        if not ids:
            return counts
        for index, delivery_id in enumerate(ids):
            try:
                process_delivery(runtime.engine, delivery_id, runtime.clock, redis=redis)
            except NotFoundError:
                counts["unknown"] += 1  # no such delivery or tenant any more (deleted): nothing to do
                log.warning("drain: delivery %d or its tenant is not in the database; dropped", delivery_id)
            except Exception as exc:
                counts["retry"] += 1
                failures += 1
                if failures >= DRAIN_FAILURES or not isinstance(exc, RetryableDeliveryError):
                    # The database is likely down: the rest waits for the retried drain; this one stays
                    # pending in the database for the sweeper (so that no delivery can jam the line).
                    _put_back(redis, ids[index + 1 :])
                    redis.zrem(CLAIMED, *ids[: index + 1])
                    raise
            else:
                counts["processed"] += 1
                failures = 0
        redis.zrem(CLAIMED, *ids)
    if redis.llen(INCOMING):
        wake_drain(redis)  # budget spent: the next drain takes the rest
    return counts


def _put_back(redis: Redis, ids: list[int]) -> None:
    """Return claimed ids to the head of the line (the right end, popped first)."""
    if ids:
        pipe = redis.pipeline()
        pipe.rpush(INCOMING, *reversed(ids))
        pipe.zrem(CLAIMED, *ids)
        pipe.execute()


def run_sweep() -> dict[str, int]:
    """Enqueue every pending delivery that no drain or job will process (Redis was down or flushed, a job died).

    Deliveries received in the last ``SWEEP_GRACE`` are left to the request
    that stored them; those waiting in ``INCOMING`` or freshly ``CLAIMED``
    are left to the drains (and a drain is woken if ids are waiting). A
    delivery whose job died ``MAX_ATTEMPTS`` times is marked failed, for
    ``relance deliveries --failed`` and ``--replay``. Returns the counts.
    """
    runtime = context.current()
    redis = runtime.redis
    now = runtime.clock()
    cutoff = now - SWEEP_GRACE
    counts = {"enqueued": 0, "alive": 0, "given_up": 0}
    handed_over = _handed_over(redis, (now - CLAIM_TIMEOUT).timestamp())
    if redis.llen(INCOMING):
        wake_drain(redis)
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    for tenant in tenants:
        after_id = 0
        while True:
            with runtime.engine.connect() as conn:
                ids = pending_ids(conn, tenant.id, cutoff, after_id=after_id)
            for delivery_id in ids:
                if delivery_id in handed_over:
                    counts["alive"] += 1
                else:
                    counts[_sweep_one(runtime, redis, tenant.id, delivery_id)] += 1
            if len(ids) < 1000:
                break
            after_id = ids[-1]
    if counts["enqueued"] or counts["given_up"]:
        log.info("sweep: %(enqueued)d deliveries enqueued, %(alive)d still queued, %(given_up)d given up", counts)
    return counts


def _handed_over(redis: Redis, fresh_since: float) -> set[int]:
    """Ids waiting for a drain, or claimed by one since ``fresh_since`` (older claims: the drain died)."""
    pipe = redis.pipeline(transaction=False)
    pipe.lrange(INCOMING, 0, -1)
    pipe.zrangebyscore(CLAIMED, fresh_since, "+inf")
    pipe.zremrangebyscore(CLAIMED, "-inf", f"({fresh_since}")
    waiting, claimed, _expired = pipe.execute()
    return {int(raw) for raw in chain(waiting, claimed)}


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
