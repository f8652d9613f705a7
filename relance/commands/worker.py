"""``relance worker``: an RQ worker with RQ's scheduler, plus the periodic jobs' cron scheduler."""

from __future__ import annotations

import logging

import click

from jobs import queues
from relance.invocation import get_runtime
from relance.worker import ForkingRelanceWorker, RelanceWorker, start_cron, stop_cron


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
@click.option("--cron/--no-cron", default=True, show_default=True, help="Also run the periodic jobs' scheduler.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty (tests, one-off runs).")
@click.pass_context
def worker(ctx: click.Context, queue_names: tuple[str, ...], simple: bool, cron: bool, burst: bool) -> None:
    """Process jobs: ingestion, syncs, flow steps, sending, received deliveries, segment refreshes."""
    runtime = get_runtime(ctx)
    level = runtime.settings.log_level
    logging.getLogger().setLevel(level)
    redis = runtime.redis
    cron_process = start_cron(level) if cron and not burst else None
    worker_class = RelanceWorker if simple else ForkingRelanceWorker
    queues_ = [queues.queue(redis, name) for name in queue_names]
    try:
        worker_class(queues_, connection=redis, runtime=runtime).work(
            with_scheduler=True, burst=burst, logging_level=level
        )
    finally:
        stop_cron(cron_process)
