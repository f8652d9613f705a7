"""Flow messages delivered per second by the real delivery job, against the compose-only rate of the same worker.

    .venv/bin/python bench/flows_delivery.py [--messages 3000] [--batch 100] [--rounds 3] [--db postgresql|sqlite]

What is measured: N due birthday emails (marketing, each to its own opted-in
contact) in the outbox, a tenant whose transport is SMTP to a local aiosmtpd
sink (it answers 250 and counts what each recipient got), a private
redis-server and ONE ``SimpleWorker`` process (what ``relance worker`` runs),
kept for the whole run. Jobs of ``--batch`` message ids are enqueued as the
flows and the sweep enqueue them.

- A (baseline), compose-only: the same worker runs a job that, for each id,
  reads the stored message and its tenant and composes it exactly as sending
  does (``core.messages.compose.compose``: its content loaded, sandboxed
  Jinja, MJML, CSS inlining, signed links, text part), then drops it.
- B (subject), delivery: the production job ``jobs.send.run_send``: claim
  one message at a time, re-check consent and suppressions, compose, save,
  SMTP to the sink over a connection kept for the batch, record ``sent``.

Rate = messages / (last job's end - first job's start), from RQ's own job
timestamps. The rounds alternate A B A B...; each round's ratio is B / A, and
the run prints min / median / max of the ratios (goal: >= 0.5), with the
sink's count of duplicated and missing messages (must be 0), then a profile
of one delivery job, run in this process, by where its time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 11:00 in Paris: out of quiet hours
PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB_NAME = "relance_bench_delivery"
SECRET = "bench-secret-key-0123456789"


def compose_only(message_ids: list[int]) -> int:
    """The baseline job: read and compose each message as sending does, send and record nothing."""
    from sqlalchemy import select

    from core.messages.compose import compose
    from core.messages.settings import message_settings
    from core.store.schema import messages
    from core.store.tenants import get_tenant_by_id
    from jobs import context
    from jobs.send import send_config

    runtime = context.current()
    config = send_config()
    tenants: dict[int, Any] = {}
    with runtime.engine.connect() as conn:
        for message_id in message_ids:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).one()
            if row.tenant_id not in tenants:
                tenant = get_tenant_by_id(conn, row.tenant_id)
                tenants[row.tenant_id] = (tenant, message_settings(tenant.config))
            tenant, settings = tenants[row.tenant_id]
            compose(conn, tenant, row, config.base_url, config.secret_key, settings=settings)
    return len(message_ids)


def _runtime(db_url: str, redis_url: str) -> Any:
    from core.store.db import make_engine
    from relance.settings import Settings
    from relance.wiring import Runtime, connect_redis

    settings = Settings.from_env(
        {
            "RELANCE_DATABASE_URL": db_url,
            "RELANCE_REDIS_URL": redis_url,
            "RELANCE_DATA_DIR": "/tmp/relance-bench-delivery",
            "RELANCE_SECRET_KEY": SECRET,
        }
    )
    return Runtime(settings=settings, engine=make_engine(db_url), clock=lambda: NOW, _redis=connect_redis(settings))


def worker_main(db_url: str, redis_url: str) -> None:
    """The worker process: production job functions, a fixed clock."""
    from rq import SimpleWorker

    from jobs import context, queues

    runtime = _runtime(db_url, redis_url)
    context.install(runtime)
    worker = SimpleWorker([queues.queue(runtime.redis)], connection=runtime.redis)
    worker.work(burst=False, logging_level="WARNING")


class Sink:
    """aiosmtpd handler: 250 to everything, messages counted per recipient."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received[rcpt] += 1
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(db_url: str, count: int, smtp_port: int) -> list[int]:
    import sqlalchemy as sa
    from sqlalchemy import insert

    from core.sections import validate_tenant
    from core.store.db import make_engine, migrate
    from core.store.schema import contacts, messages
    from core.store.tenants import upsert_tenant

    if db_url.startswith("postgresql"):
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
        admin.dispose()
    engine = make_engine(db_url)
    migrate(engine)
    config = validate_tenant(
        {
            "name": "bench",
            "platform": "woocommerce",
            "url": "https://bench.example",
            "timezone": "Europe/Paris",
            "locale": "fr_FR",
            "sender": {"name": "Maison", "email": "shop@bench.example"},
            "messages": {"transport": {"type": "smtp", "host": "127.0.0.1", "port": smtp_port, "security": "none"}},
        }
    )
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, config, NOW)
        people = [
            {
                "tenant_id": tenant.id,
                "email": f"c{i}@example.com",
                "first_name": f"Client{i}",
                "locale": "fr_FR",
                "birthday": date(1980 + i % 30, 3, 10),
                "timezone": "Europe/Paris",
                "attributes": {},
                "email_consent": True,
                "email_consent_at": NOW - timedelta(days=30),
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(count)
        ]
        contact_ids = list(conn.execute(insert(contacts).returning(contacts.c.id), people).scalars())
        rows = [
            {
                "tenant_id": tenant.id,
                "contact_id": cid,
                "flow": "birthday",
                "step": 1,
                "channel": "email",
                "marketing": True,
                "template": "birthday/1",
                "context": {},
                "dedupe_key": f"bench:{cid}",
                "status": "scheduled",
                "due_at": NOW - timedelta(hours=1),
                "attempts": 0,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for cid in contact_ids
        ]
        ids = list(conn.execute(insert(messages).returning(messages.c.id), rows).scalars())
    _vacuum(engine)
    engine.dispose()
    return sorted(ids)


def _vacuum(engine: Any) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")


def _reset(engine: Any) -> None:
    from sqlalchemy import update

    from core.store.schema import messages

    with engine.begin() as conn:
        conn.execute(
            update(messages).values(
                status="scheduled", attempts=0, sent_at=None, provider_id=None, to_address=None, subject=None
            )
        )
    _vacuum(engine)


def _run_jobs(runtime: Any, func: str, ids: list[int], batch: int) -> float:
    """Enqueue ``func`` over ``ids`` in batches, wait for the worker; return messages per second."""
    from rq.job import Job

    from jobs import queues

    redis = runtime.redis
    queue = queues.queue(redis)
    registry = queue.finished_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    datas = [queue.prepare_data(func, ([*ids[i : i + batch]],)) for i in range(0, len(ids), batch)]
    job_ids = [job.id for job in queue.enqueue_many(datas)]
    deadline = time.monotonic() + 1800
    while registry.count < len(job_ids):
        failed = queue.failed_job_registry
        if failed.count or time.monotonic() > deadline:
            job = Job.fetch(failed.get_job_ids()[0], connection=redis) if failed.count else None
            raise SystemExit(f"jobs did not finish: {registry.count}/{len(job_ids)}; {job and job.exc_info}")
        time.sleep(0.02)
    jobs = [job for job in Job.fetch_many(job_ids, connection=redis) if job is not None]
    span = max(j.ended_at.timestamp() for j in jobs) - min(j.started_at.timestamp() for j in jobs)
    return len(ids) / span


def _sent(engine: Any) -> int:
    from sqlalchemy import func, select

    from core.store.schema import messages

    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(messages.c.status == "sent")).scalar_one()


def profiled_send(message_ids: list[int]) -> str:
    """The delivery job under cProfile, in the worker (the sink is in another process): where its time goes."""
    from jobs.send import run_send

    profiler = cProfile.Profile()
    profiler.enable()
    run_send(message_ids)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


def _profile(runtime: Any, ids: list[int]) -> str:
    from rq.job import Job

    from jobs import queues

    job = queues.queue(runtime.redis).enqueue("flows_delivery.profiled_send", ids)
    deadline = time.monotonic() + 600
    while job.get_status(refresh=True) not in ("finished", "failed"):
        if time.monotonic() > deadline:
            raise SystemExit("the profiled job did not finish")
        time.sleep(0.05)
    return str(Job.fetch(job.id, connection=runtime.redis).return_value())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--profile", action="store_true", help="also profile one delivery job")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    port = _free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{port}/0"
    if args.db == "postgresql":
        db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"
    else:
        Path("/tmp/relance-bench-delivery").mkdir(exist_ok=True)
        sqlite_file = Path("/tmp/relance-bench-delivery/bench.db")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
        db_url = f"sqlite:///{sqlite_file}"
    worker = None
    try:
        time.sleep(0.3)
        ids = _setup(db_url, args.messages, controller.port)
        runtime = _runtime(db_url, redis_url)
        env = {**os.environ, "PYTHONPATH": f"{ROOT}/bench:{ROOT}"}
        worker = subprocess.Popen([sys.executable, __file__, "--worker", db_url, redis_url], env=env)
        compose_rates, delivery_rates, ratios = [], [], []
        duplicated = missing = 0
        for round_ in range(args.rounds):
            a = _run_jobs(runtime, "flows_delivery.compose_only", ids, args.batch)
            with sink.lock:
                sink.received.clear()
            b = _run_jobs(runtime, "jobs.send.run_send", ids, args.batch)
            sent = _sent(runtime.engine)
            with sink.lock:
                duplicated += sum(1 for n in sink.received.values() if n > 1)
                missing += args.messages - len(sink.received)
            if sent != args.messages:
                raise SystemExit(f"expected {args.messages} messages sent, found {sent}")
            _reset(runtime.engine)
            compose_rates.append(a)
            delivery_rates.append(b)
            ratios.append(b / a)
            print(
                f"round {round_ + 1}: compose-only {a:.0f} messages/s, delivery {b:.0f} messages/s, ratio {b / a:.2f}",
                flush=True,
            )
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"\n{args.db}, {args.messages} messages in jobs of {args.batch}, 1 worker; {os.cpu_count()} CPUs, load {load}"
        )
        print(f"compose-only: median {statistics.median(compose_rates):.0f} messages/s")
        print(f"delivery (compose + SMTP to a local sink + records): median {statistics.median(delivery_rates):.0f}/s")
        print(
            f"ratio delivery / compose-only: min {min(ratios):.2f} / median {statistics.median(ratios):.2f} / "
            f"max {max(ratios):.2f}   (goal >= 0.5)"
        )
        print(f"sink: {duplicated} duplicated, {missing} missing over {args.rounds} rounds")
        if args.profile:
            print(_profile(runtime, ids[: args.batch]))
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
        redis_server.terminate()
        redis_server.wait(10)
        controller.stop()


if __name__ == "__main__":
    main()
