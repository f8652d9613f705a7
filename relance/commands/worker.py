"""``relance worker``: an RQ worker that rides out Redis outages and runs the periodic jobs in a thread of its own.

Run one or more per machine (under systemd: docs/deploy.md); each takes the
periodic jobs' leases in turn, so the schedule runs once per install.
"""

from __future__ import annotations

import logging
import time

import click
from redis import Redis

from jobs import queues
from jobs.duties import Outage
from relance.invocation import get_runtime
from relance.wiring import RedisUnavailableError, Runtime
from relance.worker import ForkingRelanceWorker, RelanceWorker


def register(cli: click.Group) -> None:
    cli.add_command(worker)


@click.command()
@click.option(
    "--queue", "queue_names", multiple=True, default=queues.ALL, show_default=True, help="Queues to listen on."
)
@click.option(
    "--simple/--fork",
    default=True,
    show_default=True,
    help="Run jobs in the worker process (fast) or fork per job (isolated).",
)
@click.option(
    "--cron/--no-cron",
    default=True,
    show_default=True,
    help="Also run the periodic jobs (leased: once per install, whatever the number of workers).",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty (tests, one-off runs).")
@click.pass_context
def worker(ctx: click.Context, queue_names: tuple[str, ...], simple: bool, cron: bool, burst: bool) -> None:
    """Process jobs: ingestion, syncs, flow steps, sending, received deliveries, segment refreshes."""
    runtime = get_runtime(ctx)
    level = runtime.settings.log_level
    logging.getLogger().setLevel(level)
    redis = _wait_for_redis(runtime)
    worker_class = RelanceWorker if simple else ForkingRelanceWorker
    queues_ = [queues.queue(redis, name) for name in queue_names]
    worker_class(queues_, connection=redis, runtime=runtime, periodic=cron).work(
        with_scheduler=True, burst=burst, logging_level=level
    )


def _wait_for_redis(runtime: Runtime) -> Redis:
    """Runtime's Redis; a worker started while an external Redis is down waits for it (logged once)."""
    outage = Outage("Redis", logger=logging.getLogger("relance.worker"))
    while True:
        try:
            redis = runtime.redis
        except RedisUnavailableError as exc:
            if not runtime.settings.redis_url:
                raise  # the embedded Redis could not start: waiting would not help
            time.sleep(outage.failed(exc))
            continue
        outage.ok()
        return redis
