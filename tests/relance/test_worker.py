import json

from click.testing import CliRunner
from rq import Queue

from jobs import queues
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
