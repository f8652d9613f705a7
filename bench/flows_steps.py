"""Flow steps per second through real RQ workers, against RQ's own no-op job rate in the same run.

    /tmp/venv/bin/python bench/flows_steps.py [--runs 12000] [--rounds 3] [--workers 1,2]

What is measured: N runs of the birthday flow, due now, in PostgreSQL (whose
outbox already holds 4 N older messages, tables vacuumed and analysed as
autovacuum keeps a live database). The
production sweep (``jobs.flows.run_sweep``) claims them and enqueues batch jobs
(``jobs.flows.run_steps``) on a private redis-server; W ``SimpleWorker``
processes (what ``relance worker`` runs) evaluate them: the wait that ends,
consent, quiet hours, pressure, the message recorded in the outbox, the run
saved, then the messages handed to the send job, faked (a job that marks the
messages sent). Time runs from the sweep to the last job's end.

Baseline: the same worker class draining no-op jobs, from the first job's
start to the last one's end. The ratio is messages recorded per second (one
per run; each run is two steps) over no-op jobs per second, medians of the
rounds. The issue asks for at least 10 on one worker, growing with workers.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 11:00 in Paris: out of quiet hours, after 09:00
PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB_NAME = "relance_bench_flows"
#: Messages already in the outbox per run measured (history), so that the tables look like a live shop's.
HISTORY_PER_RUN = 4


def noop() -> None:
    """RQ's no-op job."""


def fake_send(message_ids: list[int]) -> int:
    """The transport, faked: the messages are marked sent, nothing leaves the machine."""
    from sqlalchemy import update

    from core.flows.store.sql import among
    from core.store.schema import messages
    from jobs import context

    runtime = context.current()
    with runtime.engine.begin() as conn:
        conn.execute(
            update(messages)
            .where(among(conn, messages.c.id, message_ids), messages.c.status == "scheduled")
            .values(status="sent", sent_at=NOW, updated_at=NOW)
        )
    return len(message_ids)


def _runtime(db_url: str, redis_url: str):
    from core.store.db import make_engine
    from relance.settings import Settings
    from relance.wiring import Runtime, connect_redis

    settings = Settings.from_env(
        {
            "RELANCE_DATABASE_URL": db_url,
            "RELANCE_REDIS_URL": redis_url,
            "RELANCE_DATA_DIR": "/tmp/relance-bench-flows",
            "RELANCE_SECRET_KEY": "bench-secret-key-0123456789",
        }
    )
    return Runtime(settings=settings, engine=make_engine(db_url), clock=lambda: NOW, _redis=connect_redis(settings))


def worker_main(db_url: str, redis_url: str) -> None:
    """A worker process: the production job functions, a fixed clock, the fake transport."""
    from rq import SimpleWorker

    from jobs import context, flows, queues

    runtime = _runtime(db_url, redis_url)
    context.install(runtime)
    flows.SEND_JOB = "flows_steps.fake_send"
    worker = SimpleWorker([queues.queue(runtime.redis)], connection=runtime.redis)
    worker.work(burst=False, logging_level="WARNING")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(db_url: str, runs: int) -> tuple[int, list[int]]:
    import sqlalchemy as sa
    from sqlalchemy import insert

    from core.flows.store.schema import flow_runs
    from core.sections import validate_tenant
    from core.store.db import make_engine, migrate
    from core.store.schema import contacts, messages
    from core.store.tenants import upsert_tenant

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    engine = make_engine(db_url)
    migrate(engine)
    config = validate_tenant(
        {"name": "bench", "platform": "woocommerce", "url": "https://bench.example", "timezone": "Europe/Paris"}
    )
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, config, NOW)
        people = [
            {
                "tenant_id": tenant.id,
                "email": f"c{i}@example.com",
                "birthday": date(1980 + i % 30, 3, 10),
                "timezone": ("Europe/Paris", "Europe/London", "Europe/Berlin")[i % 3],
                "attributes": {},
                "email_consent": True,
                "email_consent_at": NOW - timedelta(days=30),
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(runs)
        ]
        contact_ids = list(conn.execute(insert(contacts).returning(contacts.c.id), people).scalars())
        rows = [
            {
                "tenant_id": tenant.id,
                "flow": "birthday",
                "contact_id": cid,
                "trigger_key": f"birthday:{cid}:2026",
                "state": "waiting",
                "position": 0,
                "due_at": NOW - timedelta(hours=2),
                "trigger_at": NOW - timedelta(hours=2),
                "context": {"year": 2026},
                "started_at": NOW,
                "updated_at": NOW,
            }
            for cid in contact_ids
        ]
        run_ids = list(conn.execute(insert(flow_runs).returning(flow_runs.c.id), rows).scalars())
        # a shop's outbox has a history: other customers' messages of the last months
        others = [
            {
                "tenant_id": tenant.id,
                "email": f"old{i}@example.com",
                "attributes": {},
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(runs)
        ]
        other_ids = list(conn.execute(insert(contacts).returning(contacts.c.id), others).scalars())
        history = [
            {
                "tenant_id": tenant.id,
                "contact_id": other_ids[i % len(other_ids)],
                "flow": "cross_sell",
                "step": 1,
                "channel": "email",
                "marketing": True,
                "template": "cross_sell/1",
                "context": {},
                "dedupe_key": f"history:{i}",
                "status": "sent",
                "due_at": NOW - timedelta(days=1 + i % 90),
                "sent_at": NOW - timedelta(days=1 + i % 90),
                "attempts": 1,
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(HISTORY_PER_RUN * runs)
        ]
        for start in range(0, len(history), 5000):
            conn.execute(insert(messages), history[start : start + 5000])
    _vacuum(engine)
    engine.dispose()
    return tenant.id, run_ids


def _vacuum(engine) -> None:
    """What autovacuum does for a live database: fresh statistics, no dead rows left by the last round."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def _reset(engine) -> None:
    from sqlalchemy import delete, update

    from core.flows.store.schema import flow_runs
    from core.store.schema import messages

    with engine.begin() as conn:
        conn.execute(delete(messages).where(messages.c.flow == "birthday"))
        conn.execute(
            update(flow_runs).values(
                state="waiting",
                position=0,
                due_at=NOW - timedelta(hours=2),
                step_due_at=None,
                claimed_until=None,
                ended_at=None,
                end_reason=None,
            )
        )
    _vacuum(engine)


def _jobs(redis, job_ids: list[str]) -> list:
    from rq.job import Job

    return [job for job in Job.fetch_many(job_ids, connection=redis) if job is not None and job.ended_at]


def _jobs_span(redis, job_ids: list[str], since: float | None = None) -> float:
    jobs = _jobs(redis, job_ids)
    start = since if since is not None else min(job.started_at.timestamp() for job in jobs)
    return max(job.ended_at.timestamp() for job in jobs) - start


def _wait_finished(redis, count: int, timeout: float = 300) -> None:
    from jobs import queues

    registry = queues.queue(redis).finished_job_registry
    deadline = time.monotonic() + timeout
    while registry.count < count:
        if time.monotonic() > deadline:
            failed = queues.queue(redis).failed_job_registry
            raise SystemExit(f"jobs did not finish: {registry.count}/{count}, failed {failed.count}")
        time.sleep(0.02)


def _start_workers(count: int, db_url: str, redis_url: str) -> list[subprocess.Popen]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}/bench:{ROOT}"}
    return [subprocess.Popen([sys.executable, __file__, "--worker", db_url, redis_url], env=env) for _ in range(count)]


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_idle_workers(redis, count: int) -> None:
    from rq import Worker

    deadline = time.monotonic() + 60
    while len(Worker.all(connection=redis)) < count:
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.05)


def noop_rate(redis, jobs: int) -> float:
    from jobs import queues

    queue = queues.queue(redis)
    ids = [job.id for job in queue.enqueue_many([queue.prepare_data("flows_steps.noop") for _ in range(jobs)])]
    _wait_finished(redis, jobs)
    return jobs / _jobs_span(redis, ids)


def flow_rate(runtime, runs: int) -> tuple[float, float, float]:
    """Messages recorded per second, steps per second (sweep to last job), and how many jobs ran at once
    on average (time spent in jobs over wall time: 2 means two workers busy all along)."""
    from sqlalchemy import func, select

    from core.store.schema import messages
    from jobs import context, flows, queues

    redis = runtime.redis
    _reset(runtime.engine)
    context.install(runtime)
    started = time.time()
    swept = flows.run_sweep()
    expected = swept["jobs"] * 2  # each batch hands its messages to one send job
    _wait_finished(redis, expected)
    ids = queues.queue(redis).finished_job_registry.get_job_ids()
    span = _jobs_span(redis, ids, since=started)
    busy = sum((job.ended_at - job.started_at).total_seconds() for job in _jobs(redis, ids))
    with runtime.engine.connect() as conn:
        sent = conn.execute(
            select(func.count()).where(messages.c.status == "sent", messages.c.flow == "birthday")
        ).scalar_one()
    if sent != runs:
        raise SystemExit(f"expected {runs} messages sent, found {sent}")
    return runs / span, 2 * runs / span, busy / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=12000)
    parser.add_argument("--noop", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    port = _free_port()
    redis_server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    redis_url = f"redis://127.0.0.1:{port}/0"
    db_url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}"
    workers: list[subprocess.Popen] = []
    try:
        time.sleep(0.3)
        _, run_ids = _setup(db_url, args.runs)
        runtime = _runtime(db_url, redis_url)
        counts = [int(n) for n in args.workers.split(",")]
        results: dict[int, list[tuple[float, float, float]]] = {}
        noops: list[float] = []
        for round_ in range(args.rounds):
            for count in counts:
                runtime.redis.flushdb()
                workers = _start_workers(count, db_url, redis_url)
                _wait_idle_workers(runtime.redis, count)
                if count == 1:
                    noops.append(noop_rate(runtime.redis, args.noop))
                    print(f"round {round_ + 1}: no-op jobs, 1 worker: {noops[-1]:.0f}/s", flush=True)
                    runtime.redis.flushdb()
                    _stop(workers)
                    workers = _start_workers(count, db_url, redis_url)
                    _wait_idle_workers(runtime.redis, count)
                rate = flow_rate(runtime, len(run_ids))
                results.setdefault(count, []).append(rate)
                print(
                    f"round {round_ + 1}: flows, {count} worker(s): {rate[0]:.0f} messages/s, {rate[1]:.0f} steps/s, "
                    f"{rate[2]:.2f} jobs running on average",
                    flush=True,
                )
                _stop(workers)
                workers = []
        baseline = statistics.median(noops)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{os.cpu_count()} CPUs, load average {load} (PostgreSQL, Redis and the workers share them)")
        print(f"RQ no-op jobs, 1 SimpleWorker: median {baseline:.0f} jobs/s")
        for count in counts:
            messages = statistics.median(r[0] for r in results[count])
            steps = statistics.median(r[1] for r in results[count])
            overlap = statistics.median(r[2] for r in results[count])
            print(
                f"flows, {count} worker(s): median {messages:.0f} messages/s ({steps:.0f} steps/s), "
                f"{overlap:.2f} jobs running on average; ratio to no-op jobs on 1 worker: {messages / baseline:.1f}x"
            )
        if len(counts) > 1:
            one = statistics.median(r[0] for r in results[counts[0]])
            top = statistics.median(r[0] for r in results[counts[-1]])
            print(f"scaling {counts[0]} -> {counts[-1]} workers: {top / one:.2f}x")
    finally:
        _stop(workers)
        redis_server.terminate()
        redis_server.wait(10)


if __name__ == "__main__":
    main()
