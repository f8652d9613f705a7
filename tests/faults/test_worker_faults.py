"""A real ``relance worker`` under faults: Redis killed under it mid-job, Redis restarted, the worker SIGKILLed."""

from __future__ import annotations

import copy
import os
import signal

import pytest
from click.testing import CliRunner
from rq import Queue, Worker
from rq.job import Job
from sqlalchemy import func, select

from core.store.db import make_engine
from core.store.schema import orders
from core.store.tenants import get_tenant
from jobs import queues
from jobs.duties import HEARTBEAT_KEY, PERIODIC_KEY, job_id_of
from relance.cli import cli
from tests.core.test_events import ORDER
from tests.faults.conftest import REPO, children, pid_alive, wait_until

pytestmark = pytest.mark.usefixtures("redis_server")


def _order(number: int) -> dict:
    event = copy.deepcopy(ORDER)
    event["message_id"] = f"wc-order-{number}"
    event["properties"]["order_id"] = str(number)
    return event


@pytest.fixture
def tenant_id(cli_env) -> int:
    runner = CliRunner()
    added = runner.invoke(cli, ["tenant", "add", "w", "--platform", "woocommerce", "--url", "https://w.example"])
    assert added.exit_code == 0, added.output
    with make_engine(cli_env["RELANCE_DATABASE_URL"]).connect() as conn:
        return get_tenant(conn, "w").id


@pytest.fixture
def worker_env(worker_env):
    return {**worker_env, "PYTHONPATH": str(REPO)}


def _orders(cli_env) -> int:
    with make_engine(cli_env["RELANCE_DATABASE_URL"]).connect() as conn:
        return conn.execute(select(func.count()).select_from(orders)).scalar_one()


def _enqueue(redis_server, tenant_id: int, number: int, seconds: float = 0.0) -> Job:
    queue = Queue(queues.DEFAULT, connection=redis_server.client())
    return queue.enqueue("tests.faults.jobs.slow_ingest", tenant_id, [_order(number)], seconds, job_timeout=120)


def _finished(job: Job) -> bool:
    return job.get_status(refresh=True) == "finished"


def test_a_worker_rides_out_redis_killed_mid_job_and_processes_after_it_returns(
    redis_server, start_worker, tenant_id, cli_env
):
    worker = start_worker()
    wait_until(lambda: Worker.count(connection=redis_server.client()) == 1, what="the worker to register")
    slow = _enqueue(redis_server, tenant_id, 1, seconds=3)
    wait_until(lambda: slow.get_status(refresh=True) == "started", what="the slow job to start")

    redis_server.kill()  # mid-job: RQ's bookkeeping after the job fails, which used to make the worker quit
    wait_until(lambda: "unavailable" in worker.log(), 20, what="the outage to be logged")
    assert worker.alive(), worker.log()
    wait_until(lambda: _orders(cli_env) == 1, 20, what="the slow job's work to be stored")  # done, Redis or not
    redis_server.start()  # empty: everything Redis held is lost

    after = _enqueue(redis_server, tenant_id, 2)
    wait_until(lambda: _finished(after), 60, what="a job enqueued after the outage to be processed")
    assert worker.alive()
    assert _orders(cli_env) == 2
    wait_until(lambda: Worker.count(connection=redis_server.client()) == 1, what="the worker to register again")
    log = worker.log()
    assert "quitting" not in log, log
    assert log.count("Redis (worker) unavailable") == 1, log  # once per outage
    assert "Redis (worker) is back" in log


def test_periodic_jobs_survive_a_redis_restart(redis_server, start_worker, tenant_id):
    worker = start_worker()
    redis = redis_server.client()
    wait_until(lambda: redis.hget(PERIODIC_KEY, "jobs.inbound.run_sweep"), 30, what="the first periodic sweep")
    wait_until(lambda: redis.zscore(HEARTBEAT_KEY, Worker.all(connection=redis)[0].name), what="a heartbeat")

    redis_server.kill()
    # 60 s: redis-py retries a refused command with backoff before the duties see the error, slower on a loaded CI
    wait_until(lambda: "Redis (periodic jobs) unavailable" in worker.log(), 60, what="the duties to see the outage")
    redis_server.start()  # empty: the leases and heartbeats are gone with the rest

    redis = redis_server.client()
    wait_until(lambda: redis.hget(PERIODIC_KEY, "jobs.inbound.run_sweep"), 30, what="the sweep after the restart")
    sweep = Job.fetch(job_id_of("jobs.inbound.run_sweep"), connection=redis)
    wait_until(lambda: _finished(sweep), 30, what="the sweep to run")
    assert redis.zcard(HEARTBEAT_KEY) == 1
    assert worker.alive()
    assert "Redis (periodic jobs) is back" in worker.log()


def test_two_workers_run_each_periodic_job_once(redis_server, start_worker, tenant_id):
    first, second = start_worker(), start_worker()
    redis = redis_server.client()
    wait_until(lambda: redis.zcard(HEARTBEAT_KEY) == 2, 30, what="both workers' heartbeats")
    wait_until(lambda: redis.hget(PERIODIC_KEY, "jobs.flows.run_sweep"), 30, what="the flows' sweep")
    # One lease per entry, held by one of the two workers for the entry's interval.
    leases = {key.decode(): redis.get(key).decode() for key in redis.scan_iter("relance:periodic:lease:*")}
    assert "relance:periodic:lease:jobs.inbound.run_sweep" in leases
    assert set(leases.values()) <= {worker.name for worker in Worker.all(connection=redis)}
    runs = redis.lrange("rq:cron:none", 0, -1)  # nothing from RQ's own cron: the schedule is ours
    assert runs == []
    assert first.alive() and second.alive()


def test_a_sigkilled_forking_worker_leaves_no_child_behind(redis_server, start_worker, tenant_id):
    worker = start_worker("--fork")
    wait_until(lambda: Worker.count(connection=redis_server.client()) == 1, what="the worker to register")
    # No cron, no scheduler process (the duties are a thread): once the first periodic jobs' children are done, none.
    wait_until(lambda: children(worker.pid) == [], 60, what="no child between jobs")
    slow = _enqueue(redis_server, tenant_id, 3, seconds=60)
    wait_until(lambda: slow.get_status(refresh=True) == "started", 60, what="the slow job to start")
    horse = wait_until(lambda: children(worker.pid), what="the work horse")[0]

    os.kill(worker.pid, signal.SIGKILL)
    worker.process.wait(10)
    wait_until(lambda: not pid_alive(horse), 10, what="the work horse to die with its parent")


def test_a_sigkilled_simple_worker_has_no_child_to_leave(redis_server, start_worker, tenant_id):
    worker = start_worker()
    wait_until(lambda: Worker.count(connection=redis_server.client()) == 1, what="the worker to register")
    slow = _enqueue(redis_server, tenant_id, 4, seconds=60)
    wait_until(lambda: slow.get_status(refresh=True) == "started", what="the slow job to start")
    assert children(worker.pid) == []
    os.kill(worker.pid, signal.SIGKILL)
    worker.process.wait(10)
