"""The workers: ``relance worker``, and ``rq worker -w relance.worker.RelanceWorker``; jobs get their runtime from them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from rq import Queue

from jobs import queues
from jobs.errors import NoRuntimeError
from relance.cli import cli
from tests.conftest import redis_url
from tests.core.test_events import ORDER


def test_worker_processes_queued_ingest_jobs(cli_env, redis, redis_db, monkeypatch):
    monkeypatch.setenv("RELANCE_REDIS_URL", redis_url(redis_db))
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["tenant", "add", "w", "--platform", "woocommerce", "--url", "https://w.example"]).exit_code
        == 0
    )
    from core.store.db import make_engine
    from core.store.tenants import get_tenant

    engine = make_engine(cli_env["RELANCE_DATABASE_URL"])
    with engine.connect() as conn:
        tenant_id = get_tenant(conn, "w").id
    job = Queue(queues.DEFAULT, connection=redis).enqueue(
        "jobs.ingest.run_ingest_events", tenant_id, [ORDER, {"type": "nope"}]
    )
    result = runner.invoke(cli, ["worker", "--burst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == {
        "stored": 1,
        "duplicates": 0,
        "stale": 0,
        "invalid": 1,
        "by_name": {"order_placed": 1},
    }
    orders = [
        json.loads(line) for line in runner.invoke(cli, ["export", "orders", "--tenant", "w"]).stdout.splitlines()
    ]
    assert [o["total"] for o in orders] == ["49.90"]


def _tenant_id(cli_env, name: str = "w") -> int:
    from core.store.db import make_engine
    from core.store.tenants import get_tenant

    runner = CliRunner()
    assert (
        runner.invoke(cli, ["tenant", "add", name, "--platform", "woocommerce", "--url", "https://w.example"]).exit_code
        == 0
    )
    engine = make_engine(cli_env["RELANCE_DATABASE_URL"])
    with engine.connect() as conn:
        return get_tenant(conn, name).id


def test_a_job_without_a_runtime_fails_saying_which_worker_to_run(cli_env, redis, monkeypatch):
    from rq import SimpleWorker

    from jobs import context

    monkeypatch.setattr(context, "_installed", None)
    with pytest.raises(NoRuntimeError, match="relance.worker.RelanceWorker"):
        context.current()
    job = Queue(queues.DEFAULT, connection=redis).enqueue("jobs.ingest.run_ingest_events", 1, [ORDER])
    SimpleWorker([queues.queue(redis)], connection=redis).work(burst=True, logging_level="WARNING")
    job.refresh()
    assert job.get_status() == "failed"
    assert "NoRuntimeError" in job.latest_result().exc_string


def test_relance_worker_hands_its_runtime_to_its_jobs_only(cli_env, redis, redis_db, monkeypatch):
    from jobs import context
    from relance.settings import Settings
    from relance.wiring import build_runtime
    from relance.worker import RelanceWorker

    monkeypatch.setattr(context, "_installed", None)
    monkeypatch.setenv("RELANCE_REDIS_URL", redis_url(redis_db))
    tenant_id = _tenant_id(cli_env)
    runtime = build_runtime(Settings.from_env())
    job = Queue(queues.DEFAULT, connection=redis).enqueue("jobs.ingest.run_ingest_events", tenant_id, [ORDER])
    RelanceWorker([queues.queue(redis)], connection=redis, runtime=runtime).work(burst=True, logging_level="WARNING")
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    assert job.return_value()["stored"] == 1
    with pytest.raises(NoRuntimeError):  # worker-scoped: nothing left installed for the process
        context.current()


def test_a_plain_rq_worker_with_relance_worker_class_builds_its_runtime_from_the_environment(cli_env, redis, redis_db):
    tenant_id = _tenant_id(cli_env)
    job = Queue(queues.DEFAULT, connection=redis).enqueue("jobs.ingest.run_ingest_events", tenant_id, [ORDER])
    url = redis_url(redis_db)
    rq = str(Path(sys.executable).with_name("rq"))
    env = {**os.environ, **cli_env, "RELANCE_REDIS_URL": url}
    command = [rq, "worker", "-w", "relance.worker.RelanceWorker", "--burst", "--url", url, queues.DEFAULT]
    finished = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert finished.returncode == 0, finished.stderr.decode()
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    assert job.return_value()["stored"] == 1
