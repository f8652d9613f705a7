"""Queue names and how jobs are enqueued."""

from __future__ import annotations

from typing import Any

from redis import Redis
from rq import Queue, Retry

#: Events and deliveries to ingest, flow steps, messages: what users wait for.
DEFAULT = "relance"
#: Long work: full syncs, segment refreshes, bulk imports.
BULK = "relance-bulk"
ALL = (DEFAULT, BULK)

#: Retries for jobs that touch the database or the network: 5 tries with backoff.
RETRY = Retry(max=5, interval=[5, 30, 120, 600, 1800])


def queue(redis: Redis, name: str = DEFAULT) -> Queue:
    return Queue(name, connection=redis)


def enqueue(redis: Redis, func: str, *args: Any, queue_name: str = DEFAULT, **kwargs: Any) -> Any:
    """Enqueue a job by the dotted name of its function, with retries."""
    return queue(redis, queue_name).enqueue(func, *args, retry=RETRY, **kwargs)
