"""A worker's duties besides running jobs: the periodic schedule, RQ's scheduled jobs and heartbeats.

Each ``relance worker`` runs its duties in a thread of its own process
(``Duties.start``), so they live and die with the worker: no child process to
orphan when the worker is SIGKILLed, none to lose for good when Redis
restarts. The thread never exits on an error: a Redis outage is logged once,
retried with backoff, and the schedule resumes when Redis answers again.
The worker checks the thread at every loop and starts a new one if it ever
died (``ensure_running``).

Many workers, one install: a periodic entry is enqueued by whichever worker
first takes its lease (``SET NX`` with the entry's interval as time to live),
so every entry runs once per interval per install, not once per worker; a
worker that dies leaves its leases to expire and the others carry on. An
entry still queued or running is not enqueued again. RQ's scheduled jobs
(``enqueue_at``, retries with a delay) are moved to their queue under RQ's
own per-queue scheduler lock, so one worker does it at a time.

Heartbeats: every worker stamps ``HEARTBEAT_KEY`` (a sorted set: worker name
to Unix time) at each tick, and each enqueued entry stamps
``PERIODIC_KEY`` (a hash: entry name to Unix time), which ``status`` reads
back for ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler

from jobs import queues
from jobs.periodic import PERIODIC, Periodic

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "relance:heartbeat:workers"
PERIODIC_KEY = "relance:heartbeat:periodic"
LEASE_PREFIX = "relance:periodic:lease:"
JOB_PREFIX = "relance-periodic-"
#: A worker whose heartbeat is older than this (seconds) counts as gone.
WORKER_STALE_AFTER = 60
#: Seconds between two ticks of the duties.
TICK = 1.0
#: A lease is checked again at least this often (seconds): a Redis restarted or flushed lost them all.
RECHECK = 10.0
#: Longest wait between two attempts to reach Redis during an outage (seconds).
MAX_BACKOFF = 30.0
#: Errors that mean "Redis is not answering", as opposed to a bug.
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
_BUSY = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}


def entry_name(entry: Periodic) -> str:
    """The entry's stable name: its function, and its arguments when it has some."""
    return ":".join((entry.func, *map(str, entry.args)))


def job_id_of(name: str) -> str:
    """The RQ job id of a periodic entry: one per entry, so that an entry still queued is not queued twice."""
    return JOB_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "_", name)


class Outage:
    """Tracks one outage of a dependency so that it is logged once when it starts and once when it ends."""

    def __init__(self, what: str, logger: logging.Logger = log, max_backoff: float = MAX_BACKOFF) -> None:
        self.what = what
        self.log = logger
        self.max_backoff = max_backoff
        self.since: float | None = None
        self._delay = 0.5

    def failed(self, exc: BaseException) -> float:
        """Record a failure; return how long to wait before the next attempt (exponential, with jitter)."""
        if self.since is None:
            self.since = time.monotonic()
            self._delay = 0.5
            self.log.warning("%s unavailable (%s): carrying on, retrying with backoff", self.what, _reason(exc))
        else:
            self._delay = min(self._delay * 2, self.max_backoff)
        return self._delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security

    def ok(self) -> None:
        """Record a success: log the end of the outage, if there was one."""
        if self.since is not None:
            self.log.warning("%s is back after %.0f s", self.what, time.monotonic() - self.since)
            self.since = None


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:200]


@dataclass
class _Due:
    entry: Periodic
    name: str
    next_try: float = 0.0


class Duties:
    """The periodic schedule, RQ's scheduled jobs and the worker's heartbeat, run by one thread of a worker."""

    def __init__(
        self,
        redis: Redis,
        worker_name: str,
        queue_names: Sequence[str] = queues.ALL,
        schedule: Iterable[Periodic] = PERIODIC,
        tick: float = TICK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.worker_name = worker_name
        self.tick = tick
        self.clock = clock
        self._due = [_Due(entry, entry_name(entry)) for entry in schedule]
        self._scheduler = RQScheduler(list(queue_names), connection=redis, name=f"relance:{worker_name}")
        self._scheduler_born = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.outage = Outage("Redis (periodic jobs)")

    # the thread

    def start(self) -> threading.Thread:
        """Start the duties' thread (a daemon: it ends with the worker process)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="relance-duties", daemon=True)
        self._thread.start()
        return self._thread

    def ensure_running(self) -> bool:
        """Start the thread again if it died; return True when it had to."""
        if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
            return False
        log.error("the periodic jobs' thread had stopped: starting it again")
        self.start()
        return True

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, and release the scheduler lock and heartbeat (best effort)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self._scheduler.release_locks()
            self.redis.zrem(HEARTBEAT_KEY, self.worker_name)
        except (RedisError, OSError):
            pass

    def _loop(self) -> None:
        while not self._stop.is_set():
            wait = self.tick
            try:
                self.run_once()
                if self.outage.since is not None:
                    self.outage.ok()
                    for due in self._due:  # Redis may have restarted empty: try every lease now
                        due.next_try = 0.0
            except REDIS_DOWN as exc:
                wait = self.outage.failed(exc)
            except Exception:
                # A bug in one tick must not stop the schedule for good: log it, carry on.
                log.exception("periodic jobs: one tick failed; carrying on")
                wait = max(self.tick, 5.0)
            self._stop.wait(wait)

    # one tick

    def run_once(self) -> list[str]:
        """Stamp the heartbeat, move RQ's due scheduled jobs, enqueue the due periodic entries; return their names.

        Raises RedisError or OSError when Redis is unavailable.
        """
        now = self.clock()
        self.redis.zadd(HEARTBEAT_KEY, {self.worker_name: now})
        self._run_scheduler()
        enqueued = [due.name for due in self._due if due.next_try <= now and self._run_entry(due, now)]
        return enqueued

    def _run_scheduler(self) -> None:
        scheduler = self._scheduler
        if not self._scheduler_born:
            scheduler.register_birth()
            self._scheduler_born = True
        if scheduler.should_reacquire_locks:
            scheduler.acquire_locks()
        if scheduler.acquired_locks:
            scheduler.heartbeat()
            scheduler.enqueue_scheduled_jobs()

    def _run_entry(self, due: _Due, now: float) -> bool:
        entry = due.entry
        lease = LEASE_PREFIX + due.name
        if not self.redis.set(lease, self.worker_name, nx=True, ex=entry.interval_seconds):
            ttl = self.redis.ttl(lease)
            due.next_try = now + min(ttl if ttl and ttl > 0 else 1, RECHECK)
            return False
        due.next_try = now + min(entry.interval_seconds, RECHECK)
        job_id = job_id_of(due.name)
        try:
            if self._busy(job_id):
                log.debug("periodic %s: still queued or running, not enqueued again", due.name)
                return False
            queues.queue(self.redis, entry.queue).enqueue(
                entry.func, *entry.args, job_id=job_id, result_ttl=max(entry.interval_seconds * 2, 120)
            )
        except BaseException:
            self.redis.delete(lease)  # let the next tick (of any worker) try again
            due.next_try = now
            raise
        self.redis.hset(PERIODIC_KEY, due.name, now)
        return True

    def _busy(self, job_id: str) -> bool:
        try:
            status = Job.fetch(job_id, connection=self.redis).get_status(refresh=False)
        except NoSuchJobError:
            return False
        return status in _BUSY


def status(redis: Redis, now: float) -> dict[str, Any]:
    """The workers alive (a heartbeat within ``WORKER_STALE_AFTER``) and the periodic entries' last runs.

    ``{"workers": n, "last_worker_heartbeat_age": s | None, "last_periodic_age": s | None,
    "periodic": {name: age in seconds}}``; raises RedisError or OSError when Redis is unavailable.
    """
    pipe = redis.pipeline(transaction=False)
    pipe.zremrangebyscore(HEARTBEAT_KEY, 0, now - 24 * 3600)
    pipe.zrangebyscore(HEARTBEAT_KEY, now - WORKER_STALE_AFTER, "+inf", withscores=True)
    pipe.zrevrange(HEARTBEAT_KEY, 0, 0, withscores=True)
    pipe.hgetall(PERIODIC_KEY)
    _, alive, last, periodic = pipe.execute()
    ages = {(k.decode() if isinstance(k, bytes) else k): max(now - float(v), 0.0) for k, v in periodic.items()}
    return {
        "workers": len(alive),
        "last_worker_heartbeat_age": max(now - last[0][1], 0.0) if last else None,
        "last_periodic_age": min(ages.values()) if ages else None,
        "periodic": dict(sorted(ages.items())),
    }
