"""Relance's RQ workers: each job runs with the runtime of the worker that runs it.

``relance worker`` builds the runtime (migrating the schema), hands it to a
``RelanceWorker`` and, unless told not to, starts the periodic jobs' cron
scheduler in a child process (``start_cron``). Without ``relance worker``::

    rq worker -w relance.worker.RelanceWorker --with-scheduler --url "$RELANCE_REDIS_URL" relance relance-bulk

builds the runtime from the RELANCE_* environment when the worker starts.
``ForkingRelanceWorker`` runs each job in a forked child (``relance worker
--fork``).
"""

from __future__ import annotations

import logging
import multiprocessing
from typing import Any

from rq import SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue

from jobs import context
from jobs.periodic import PERIODIC, build_cron
from relance.settings import Settings
from relance.wiring import Runtime, build_runtime, connect_redis

log = logging.getLogger(__name__)


class _WithRuntime:
    """Hands the worker's runtime to every job it performs (``jobs.context.running``)."""

    def __init__(self, *args: Any, runtime: Runtime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._runtime = runtime

    @property
    def runtime(self) -> Runtime:
        """The runtime handed in, else one built from the environment (schema not migrated)."""
        if self._runtime is None:
            self._runtime = build_runtime(Settings.from_env(), migrate_schema=False)
        return self._runtime

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        self.runtime  # noqa: B018 - built when the worker starts, before any job (and any fork)
        super().bootstrap(*args, **kwargs)  # type: ignore[misc]

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        with context.running(self.runtime):
            return super().perform_job(job, queue, execution)  # type: ignore[misc]


class RelanceWorker(_WithRuntime, SimpleWorker):
    """An RQ worker that runs jobs in its own process, with Relance's runtime."""


class ForkingRelanceWorker(_WithRuntime, Worker):
    """An RQ worker that forks a child per job (isolated), with Relance's runtime."""

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        # In the forked child: never reuse the parent's pooled database connections.
        self.runtime.engine.dispose(close=False)
        return super().perform_job(job, queue, execution)


def _run_cron(level: str) -> None:
    build_cron(connect_redis(Settings.from_env()), logging_level=level).start()


def start_cron(level: str) -> multiprocessing.Process | None:
    """Start the periodic jobs' cron scheduler in a child process (None when there is no periodic job)."""
    if not PERIODIC:
        return None
    process = multiprocessing.Process(target=_run_cron, args=(level,), name="relance-cron", daemon=True)
    process.start()
    return process


def stop_cron(process: multiprocessing.Process | None) -> None:
    if process is not None:
        process.terminate()
        process.join(5)
