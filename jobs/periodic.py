"""Periodic jobs: what the cron scheduler of ``relance worker`` enqueues, and how often.

Each entry is idempotent (it claims due work in the database), so several
schedulers on several machines may run at once without doing anything twice.
``rq cron jobs/cron_config.py`` runs the same schedule without ``relance worker``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis import Redis
from rq.cron import CronScheduler

from core.flows.registry import periodic_work
from jobs import queues


@dataclass(frozen=True)
class Periodic:
    func: str  # dotted path of the job function
    interval_seconds: int
    queue: str = queues.DEFAULT
    args: tuple[Any, ...] = ()


def _queue_for(every: timedelta) -> str:
    """Daily and longer work goes to the bulk queue."""
    return queues.BULK if every >= timedelta(days=1) else queues.DEFAULT


#: The schedule. Areas add their sweeps here.
PERIODIC: tuple[Periodic, ...] = (
    Periodic("jobs.sync.run_scheduled_syncs", 60),
    Periodic("jobs.inbound.run_sweep", 60),
    Periodic("jobs.flows.run_sweep", 30),
    # the flows' periodic work (date scan, replenishment refresh...), from core.flows.registry
    *(
        Periodic("jobs.flows.run_periodic", int(work.every.total_seconds()), _queue_for(work.every), (work.name,))
        for work in periodic_work()
    ),
    Periodic("jobs.send.run_sweep", 30),
    Periodic("jobs.coupons.run_coupons", 60),
    Periodic("jobs.hooks.run_hooks", 60),
    Periodic("jobs.campaigns.run_campaigns", 60),
    Periodic("jobs.segments.run_refresh_all", 3600),
)


def resolve(dotted: str) -> Callable[..., Any]:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def build_cron(redis: Redis, logging_level: str = "INFO") -> CronScheduler:
    """Return a CronScheduler with every periodic job registered."""
    scheduler = CronScheduler(connection=redis, logging_level=logging_level, name="")
    for entry in PERIODIC:
        scheduler.register(resolve(entry.func), entry.queue, args=entry.args, interval=entry.interval_seconds)
    return scheduler
