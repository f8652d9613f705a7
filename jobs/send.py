"""Send jobs: send outbox messages, and the sweep that finds the ones no job took.

``run_send(message_ids)`` is what the flows enqueue (at each message's due
time). Claiming in the database makes a duplicate job harmless. A message
that failed for a temporary reason is back in ``scheduled`` with a later
``due_at`` and is enqueued again for that time. ``run_sweep`` (every 30 s)
enqueues every scheduled message whose time has passed (jobs lost with a Redis
flush, double opt-in confirmations written by the ingestion pipeline) and
flags messages stuck in ``sending`` for a human, without sending them again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from core.messages.sending import SendConfig, mark_interrupted, send_messages
from core.messages.store.outbox import due_message_ids, still_scheduled
from jobs import context, queues
from transports.registry import tenant_transports

log = logging.getLogger(__name__)

JOB = "jobs.send.run_send"
#: Messages per send job enqueued by the sweep.
BATCH_SIZE = 100
#: Most messages the sweep enqueues per run (the next run takes the rest).
SWEEP_MAX = 20_000


def send_config() -> SendConfig:
    settings = context.current().settings
    return SendConfig(base_url=settings.base_url, secret_key=settings.secret_key)


def run_send(message_ids: list[int]) -> dict[str, int]:
    """Send the due messages among ``message_ids``; return counts by outcome."""
    runtime = context.current()
    transports = tenant_transports(runtime.settings.data_dir / "outbox")
    try:
        report = send_messages(runtime.engine, [int(i) for i in message_ids], runtime.clock, send_config(), transports)
    except Exception:
        log.exception("sending %d messages failed", len(message_ids))
        raise
    if report.retry:
        _enqueue_retries(report.retry)
    return report.as_dict()


def _enqueue_retries(message_ids: list[int]) -> None:
    runtime = context.current()
    with runtime.engine.connect() as conn:
        rows = still_scheduled(conn, message_ids)
    queue = queues.queue(runtime.redis)
    for message_id, due_at in rows:
        queue.enqueue_at(due_at, JOB, [message_id], retry=queues.RETRY)


def run_sweep() -> dict[str, Any]:
    """Enqueue due messages no job took; fail (without resending) messages stuck in ``sending``."""
    runtime = context.current()
    now: datetime = runtime.clock()
    with runtime.engine.begin() as conn:
        interrupted = mark_interrupted(conn, now)
    if interrupted:
        log.warning("messages %s were interrupted while sending: marked failed, not resent", interrupted)
    enqueued = 0
    with runtime.engine.connect() as conn:
        due = due_message_ids(conn, now, SWEEP_MAX)
    for start in range(0, len(due), BATCH_SIZE):
        queues.enqueue(runtime.redis, JOB, due[start : start + BATCH_SIZE])
        enqueued += 1
    return {"due": len(due), "jobs": enqueued, "interrupted": len(interrupted)}
