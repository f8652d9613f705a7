"""The runtime a job runs in: handed over by the worker that runs it; never read from the environment.

``relance worker`` and ``rq worker -w relance.worker.RelanceWorker`` run
each job inside ``running(runtime)``, so a job sees the runtime of the worker
running it. Code that calls job functions itself, outside any worker (a
command's one-off sweep, tests), uses ``running`` as well, or ``install``
for the whole process. ``JobRuntime`` is what jobs need of it; the composition
root (``relance.wiring``) builds one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Protocol

from redis import Redis
from sqlalchemy import Engine

from jobs.errors import NoRuntimeError


class JobSettings(Protocol):
    """The install's settings jobs read."""

    @property
    def base_url(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...


class JobRuntime(Protocol):
    """What a job needs of its process: settings, the database, the clock and Redis."""

    @property
    def settings(self) -> JobSettings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def redis(self) -> Redis: ...


_running: ContextVar[JobRuntime | None] = ContextVar("relance_job_runtime", default=None)
_installed: JobRuntime | None = None


@contextmanager
def running(runtime: JobRuntime) -> Iterator[JobRuntime]:
    """Run the jobs called inside the block with ``runtime`` (what a worker does around each job)."""
    token = _running.set(runtime)
    try:
        yield runtime
    finally:
        _running.reset(token)


def install(runtime: JobRuntime | None) -> None:
    """Make ``runtime`` the one this process's jobs use outside any ``running`` block (None removes it)."""
    global _installed
    _installed = runtime


def current() -> JobRuntime:
    """The runtime of the job being run; raise NoRuntimeError when none was handed over."""
    runtime = _running.get() or _installed
    if runtime is None:
        raise NoRuntimeError(
            "no runtime for this job: run workers with 'relance worker' or "
            "'rq worker -w relance.worker.RelanceWorker', which build it from the RELANCE_* settings"
        )
    return runtime
