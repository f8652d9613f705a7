"""The periodic refresh runs through RQ on a real Redis, per tenant, and is in the schedule."""

from __future__ import annotations

from datetime import timedelta

from rq import SimpleWorker

from core.pipeline import ingest
from core.segments.store.membership import member_counts
from jobs import context, queues
from jobs.periodic import PERIODIC, resolve
from relance.settings import Settings
from relance.wiring import Runtime
from tests.conftest import NOW, make_tenant
from tests.core.helpers import order


def test_the_hourly_refresh_fills_every_tenant(engine, redis, tmp_path):
    entry = next(e for e in PERIODIC if e.func == "jobs.segments.run_refresh_all")
    assert entry.interval_seconds == 3600 and resolve(entry.func)
    first, second = make_tenant(engine, "one"), make_tenant(engine, "two")
    with engine.begin() as conn:
        for tenant in (first, second):
            when = (NOW - timedelta(days=3)).isoformat()
            ingest(conn, tenant, order(f"{tenant.name}-1", "paid", when, {"email": f"a@{tenant.name}.example"}), NOW)
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(tmp_path), "RELANCE_SECRET_KEY": "k" * 32})
    runtime = Runtime(settings=settings, engine=engine, clock=lambda: NOW, _redis=redis)
    context.install(runtime)
    try:
        assert resolve(entry.func)() == 2
        worker = SimpleWorker([queues.queue(redis, queues.BULK)], connection=redis)
        assert worker.work(burst=True)
    finally:
        context.install(None)  # type: ignore[arg-type]
    with engine.connect() as conn:
        for tenant in (first, second):
            assert member_counts(conn, tenant.id) == {"occasional_customer": 1, "new_customer": 1}
