"""``relance worker``: an RQ worker with RQ's scheduler, plus the periodic jobs' cron scheduler."""

from __future__ import annotations

import logging
import multiprocessing

import click
from rq import SimpleWorker, Worker

from jobs import context, queues
from jobs.periodic import PERIODIC, build_cron


def register(cli: click.Group) -> None:
    cli.add_command(worker)


def _run_cron(level: str) -> None:
    from relance.settings import Settings
    from relance.wiring import connect_redis

    build_cron(connect_redis(Settings.from_env()), logging_level=level).start()


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
    """Process jobs: ingestion, syncs, flow steps, deliveries, segment refreshes."""
    from relance.cli import get_runtime

    runtime = get_runtime(ctx)
    level = runtime.settings.log_level
    logging.getLogger().setLevel(level)
    context.install(runtime)
    redis = runtime.redis
    cron_process = None
    if cron and PERIODIC and not burst:
        cron_process = multiprocessing.Process(target=_run_cron, args=(level,), name="relance-cron", daemon=True)
        cron_process.start()
    worker_class = SimpleWorker if simple else Worker
    queues_ = [queues.queue(redis, name) for name in queue_names]
    try:
        worker_class(queues_, connection=redis).work(with_scheduler=True, burst=burst, logging_level=level)
    finally:
        if cron_process is not None:
            cron_process.terminate()
            cron_process.join(5)
