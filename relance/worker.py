"""Relance's RQ workers: each job runs with the runtime of the worker that runs it, and Redis outages are ridden out.

``relance worker`` builds the runtime (migrating the schema) and hands it to a
``RelanceWorker``. Without ``relance worker``::

    rq worker -w relance.worker.RelanceWorker --url "$RELANCE_REDIS_URL" relance relance-bulk

builds the runtime from the RELANCE_* environment when the worker starts.
``ForkingRelanceWorker`` runs each job in a forked child (``relance worker
--fork``); that child is killed with its parent (``PR_SET_PDEATHSIG``).

What a plain RQ worker does not do, these do:

- **Ride out Redis outages.** RQ retries a lost connection only while it
  waits for a job; anywhere else (its heartbeat after a job, finishing a
  job, maintenance) it logs "found an unhandled exception, quitting" and
  exits. Here every such place waits for Redis with backoff, logging once
  when the outage starts and once when it ends, registers the worker again
  (a restarted Redis forgot it) and carries on. A job cut short by the
  outage is retried by RQ (an abandoned job with retries left), or, if Redis
  lost it, queued again by the database sweeps: the database is the truth.
- **Run the periodic jobs and RQ's scheduled jobs** in a thread of the
  worker process (``jobs.duties``), leased once per install, with a
  heartbeat in Redis that ``/healthz`` and ``/metrics`` show. No child
  process: nothing to orphan, nothing lost for good when Redis restarts.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from typing import Any

from rq import SimpleWorker, Worker, worker_registration
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

from jobs import context
from jobs.duties import REDIS_DOWN, Duties, Outage
from jobs.periodic import PERIODIC
from relance.settings import Settings
from relance.wiring import Runtime, build_runtime

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux); exit now if it already has."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:  # pragma: no cover - never fails on Linux
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if parent == 1 or os.getppid() != parent:
        os._exit(1)


class _WithRuntime:
    """Hands the worker's runtime to every job it performs (``jobs.context.running``) and rides out Redis outages."""

    def __init__(self, *args: Any, runtime: Runtime | None = None, periodic: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runtime = runtime
        self._periodic = periodic
        self.duties: Duties | None = None
        self.redis_outage = Outage("Redis (worker)", logger=log)

    @property
    def runtime(self) -> Runtime:
        """The runtime handed in, else one built from the environment (schema not migrated)."""
        if self._runtime is None:
            self._runtime = build_runtime(Settings.from_env(), migrate_schema=False)
        return self._runtime

    # RQ's worker, with the duties

    def work(self, burst: bool = False, *args: Any, with_scheduler: bool = False, **kwargs: Any) -> bool:
        """RQ's work loop. Unless in burst mode, the duties' thread moves RQ's scheduled jobs and runs the
        periodic ones (when ``periodic``), instead of RQ's scheduler process."""
        self._burst = burst
        return super().work(burst, *args, with_scheduler=with_scheduler and burst, **kwargs)  # type: ignore[misc]

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self.runtime  # noqa: B018 - built when the worker starts, before any job (and any fork)
        self._ride_out(super().bootstrap, *args, **kwargs)
        if not getattr(self, "_burst", True) and self.duties is None:
            schedule = PERIODIC if self._periodic else ()
            self.duties = Duties(self.connection, self.name, self.queue_names(), schedule=schedule)  # type: ignore[attr-defined]
            self.duties.start()

    def teardown(self) -> None:
        if self.duties is not None:
            self.duties.stop()
        try:
            super().teardown()  # type: ignore[misc]
        except REDIS_DOWN as exc:
            log.warning("worker stopped while Redis is unavailable (%s): its registration expires by itself", exc)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        with context.running(self.runtime):
            return super().perform_job(job, queue, execution)  # type: ignore[misc]

    # Redis outages: every place of RQ's loop that would quit waits instead

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:
            super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            return
        self._ride_out(super().heartbeat, timeout)

    def check_for_suspension(self, burst: bool) -> None:
        self._ride_out(super().check_for_suspension, burst)

    def run_maintenance_tasks(self) -> None:
        if self.duties is not None:
            self.duties.ensure_running()
        self._ride_out(super().run_maintenance_tasks)

    def execute_job(self, job: Job, queue: Queue) -> None:
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        except REDIS_DOWN as exc:
            log.warning(
                "job %s cut short by a Redis outage: RQ retries it, or the database sweeps queue its work again",
                job.id,
            )
            self._wait_for_redis(exc)

    def _ride_out(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``call``; while it fails for want of Redis, wait for Redis (backoff) and call it again."""
        while True:
            try:
                result = call(*args, **kwargs)
            except REDIS_DOWN as exc:
                self._wait_for_redis(exc)
                continue
            self.redis_outage.ok()
            return result

    def _wait_for_redis(self, exc: BaseException) -> None:
        """Block until Redis answers again (a stop request still stops), then register this worker again."""
        while True:
            if self._stop_requested:  # type: ignore[attr-defined]
                raise StopRequested()
            time.sleep(self.redis_outage.failed(exc))
            try:
                self.connection.ping()  # type: ignore[attr-defined]
                self._register_again()
            except REDIS_DOWN as again:
                exc = again
                continue
            self.redis_outage.ok()
            return

    def _register_again(self) -> None:
        """Write this worker's registration again: a Redis restarted empty forgot it (idempotent otherwise)."""
        if getattr(self, "birth_date", None) is None or getattr(self, "last_heartbeat", None) is None:
            return
        with self.connection.pipeline() as pipe:  # type: ignore[attr-defined]
            pipe.hset(self.key, mapping=self.serialize())  # type: ignore[attr-defined]
            worker_registration.register(self, pipe)  # type: ignore[arg-type]
            pipe.expire(self.key, self.worker_ttl + 60)  # type: ignore[attr-defined]
            pipe.execute()


class RelanceWorker(_WithRuntime, SimpleWorker):
    """An RQ worker that runs jobs in its own process, with Relance's runtime."""


class ForkingRelanceWorker(_WithRuntime, Worker):
    """An RQ worker that forks a child per job (isolated), with Relance's runtime; the child dies with it."""

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        die_with_parent()
        super().main_work_horse(job, queue)

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        # In the forked child: never reuse the parent's pooled database connections.
        self.runtime.engine.dispose(close=False)
        return super().perform_job(job, queue, execution)

    def maintain_heartbeats(self, job: Job, execution: Execution) -> None:
        # While the child works, a lost Redis must not make the parent stop watching it.
        try:
            super().maintain_heartbeats(job, execution)
        except REDIS_DOWN as exc:
            self.redis_outage.failed(exc)
