"""Messages exactly once under faults: a worker SIGKILLed mid-batch, the SMTP server down mid-batch.

The worker test runs the production command (``relance worker --burst``) on a
redis-server of its own, against the run's database, and an aiosmtpd sink that
counts the messages each recipient got. Nothing here is timed: the sink slows
each message down only so that the kill lands in the middle of the batch.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from sqlalchemy import func, select

from core.messages.sending import SendConfig, mark_interrupted, send_messages
from core.store.schema import messages
from jobs import context, queues
from jobs.send import JOB, run_sweep
from tests.conftest import NOW
from tests.messages.helpers import BASE_URL, SECRET, Clock, add_contact, free_port, outbox, runtime, shop
from transports.registry import tenant_transports

CONFIG = SendConfig(BASE_URL, SECRET)


class Sink:
    """An SMTP server's handler that counts messages per recipient; it can slow down or refuse MAIL."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.per_recipient: Counter[str] = Counter()
        self.peers: set[Any] = set()
        self.refuse_mail_after: int | None = None
        self.lock = threading.Lock()

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.per_recipient.values())

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_mail_after is not None and self.total >= self.refuse_mail_after:
            return "421 4.3.2 service shutting down"
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.per_recipient[rcpt] += 1
            self.peers.add(session.peer)
        return "250 Message accepted"


def start_sink(sink: Sink, port: int | None = None) -> Controller:
    controller = Controller(sink, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    return controller


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own (it is not shared with any other run)."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except Exception:  # noqa: BLE001 - not up yet
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        server.terminate()
        server.wait(10)


def smtp_shop(engine: Any, port: int) -> Any:
    return shop(engine, {"transport": {"type": "smtp", "host": "127.0.0.1", "port": port, "security": "none"}})


def fill_outbox(engine: Any, tenant: Any, count: int) -> dict[int, str]:
    """``count`` due birthday emails, one per contact; return message id -> recipient."""
    recipients = {}
    for i in range(count):
        email = f"client{i}@example.com"
        recipients[outbox(engine, tenant, add_contact(engine, tenant, email), flow="birthday")] = email
    return recipients


def statuses(engine: Any) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(messages.c.id, messages.c.status)).all())


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    relance = str(Path(sys.executable).with_name("relance"))
    command = [relance, "worker", "--burst", "--no-cron", "--queue", queues.DEFAULT]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_worker_killed_mid_batch_leaves_at_most_one_message_in_doubt(engine, db_url, own_redis, tmp_path):
    sink = Sink(delay=0.05)
    controller = start_sink(sink)
    try:
        tenant = smtp_shop(engine, controller.port)
        recipients = fill_outbox(engine, tenant, 40)
        redis = Redis.from_url(own_redis)
        queues.enqueue(redis, JOB, sorted(recipients))  # the whole batch in one job, as the flows enqueue it
        env = {
            **os.environ,
            "RELANCE_DATABASE_URL": db_url,
            "RELANCE_REDIS_URL": own_redis,
            "RELANCE_DATA_DIR": str(tmp_path / "data"),
            "RELANCE_SECRET_KEY": SECRET,
            "RELANCE_BASE_URL": BASE_URL,
        }
        first = start_worker(env)
        deadline = time.monotonic() + 120
        while sink.total < 10 and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert first.poll() is None, f"the worker ended before the kill: {first.stderr.read().decode()[-2000:]}"
        first.send_signal(signal.SIGKILL)
        first.wait(30)

        after_kill = Counter(statuses(engine).values())
        assert after_kill["sending"] <= 1, after_kill  # at most the message being handed to SMTP
        assert after_kill["scheduled"] >= 1, after_kill  # the kill landed mid-batch: the rest is still to send

        # The sweep (every 30 s in production) finds the rest; another worker sends it.
        with context.running(runtime(engine, tmp_path, Clock(NOW), redis=redis)):
            assert run_sweep()["due"] == after_kill["scheduled"]
        second = start_worker(env)
        assert second.wait(180) == 0, second.stderr.read().decode()[-2000:]

        final = statuses(engine)
        in_doubt = [message_id for message_id, status in final.items() if status == "sending"]
        assert len(in_doubt) == after_kill["sending"]
        assert max(sink.per_recipient.values()) == 1, "a message was sent twice"
        for message_id, email in recipients.items():
            if message_id not in in_doubt:
                assert final[message_id] == "sent" and sink.per_recipient[email] == 1, (message_id, final[message_id])
        # The in-doubt rule: never resent, failed as interrupted once it has been stuck long enough.
        with engine.begin() as conn:
            assert mark_interrupted(conn, datetime.now(UTC) + timedelta(minutes=16)) == in_doubt
        redis.close()
    finally:
        controller.stop()


def count_sent(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(messages.c.status == "sent")).scalar_one()


def test_smtp_down_mid_batch_is_retried_and_nothing_is_sent_twice(engine, tmp_path):
    sink = Sink()
    sink.refuse_mail_after = 4  # after 4 messages, the server answers 421 (going down)
    controller = start_sink(sink)
    port = controller.port
    tenant = smtp_shop(engine, port)
    recipients = fill_outbox(engine, tenant, 10)
    clock = Clock(NOW)
    report = send_messages(engine, list(recipients), clock, CONFIG, tenant_transports(tmp_path))
    assert len(report.sent) == 4 and len(report.retry) == 6
    assert len(sink.peers) == 1  # one connection served the batch

    controller.stop()  # now the server is gone altogether
    clock.now += timedelta(minutes=1)
    report = send_messages(engine, list(recipients), clock, CONFIG, tenant_transports(tmp_path))
    assert report.sent == [] and len(report.retry) == 6

    sink.refuse_mail_after = None
    controller = start_sink(sink, port)  # back up
    try:
        clock.now += timedelta(minutes=5)
        report = send_messages(engine, list(recipients), clock, CONFIG, tenant_transports(tmp_path))
        assert len(report.sent) == 6 and report.retry == []
    finally:
        controller.stop()
    assert count_sent(engine) == 10
    assert sorted(sink.per_recipient) == sorted(recipients.values())
    assert set(sink.per_recipient.values()) == {1}
