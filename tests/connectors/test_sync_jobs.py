"""The sync jobs on a real Redis: the periodic sweep enqueues due tenants once, a worker runs the sync."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import responses
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from connectors.lease import claim_lease
from core.store.schema import orders
from core.store.sync_state import sync_locks
from jobs import context, queues
from jobs.periodic import PERIODIC
from jobs.sync import missing_credentials, run_scheduled_syncs, run_sync_tenant
from relance.settings import Settings
from relance.wiring import Runtime
from tests.conftest import NOW, make_tenant, redis_url
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, fixture_shop, route_shop


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now


@pytest.fixture
def runtime(engine, redis, redis_db, tmp_path):
    clock = Clock()
    settings = Settings(
        database_url=str(engine.url),
        redis_url=redis_url(redis_db),
        data_dir=tmp_path,
        secret_key="test-secret-key-0123456789",
        base_url="http://127.0.0.1:8000",
    )
    runtime = Runtime(settings=settings, engine=engine, clock=clock, _redis=redis)
    context.install(runtime)
    yield runtime
    context.install(None)


def bulk(redis) -> Queue:
    return Queue(queues.BULK, connection=redis)


def test_the_sweep_is_on_the_periodic_schedule():
    assert any(p.func == "jobs.sync.run_scheduled_syncs" and p.interval_seconds == 60 for p in PERIODIC)


def test_due_tenants_are_enqueued_once_per_interval_and_tenants_without_keys_are_skipped(runtime, redis, caplog):
    shop = make_tenant(runtime.engine, "shop", url=SHOP_URL, credentials=CREDENTIALS)
    make_tenant(runtime.engine, "bare", url="https://bare.example.com")
    make_tenant(
        runtime.engine, "hourly", url="https://h.example.com", credentials=CREDENTIALS, sync={"interval_minutes": 60}
    )
    caplog.set_level(logging.WARNING)

    assert run_scheduled_syncs() == {"enqueued": ["hourly", "shop"], "skipped": ["bare"]}
    jobs = bulk(redis).jobs
    assert sorted(job.args[0] for job in jobs) == sorted([shop.id, shop.id + 2])
    assert all(job.func_name == "jobs.sync.run_sync_tenant" for job in jobs)
    assert caplog.text.count("tenant bare: scheduled sync skipped: no credentials.consumer_key") == 1

    runtime.clock.now = NOW + timedelta(minutes=1)
    assert run_scheduled_syncs() == {"enqueued": [], "skipped": []}
    runtime.clock.now = NOW + timedelta(minutes=6)
    assert run_scheduled_syncs() == {"enqueued": ["shop"], "skipped": ["bare"]}
    assert len(bulk(redis)) == 3


def test_a_running_sync_is_not_enqueued_again(runtime, redis):
    shop = make_tenant(runtime.engine, "shop", url=SHOP_URL, credentials=CREDENTIALS)
    claim_lease(runtime.engine, shop.id, shop.name, "worker-1", NOW - timedelta(minutes=20))
    runtime.clock.now = NOW - timedelta(minutes=20) + timedelta(minutes=10)  # lease still valid
    assert run_scheduled_syncs()["enqueued"] == []
    runtime.clock.now = NOW  # the lease expired (crashed worker): due again
    assert run_scheduled_syncs()["enqueued"] == ["shop"]


def test_a_worker_runs_the_enqueued_sync(runtime, redis):
    shop = make_tenant(runtime.engine, "shop", url=SHOP_URL, credentials=CREDENTIALS)
    run_scheduled_syncs()
    (job,) = bulk(redis).jobs
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        SimpleWorker([bulk(redis)], connection=redis).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    result = job.return_value()
    assert result["outcome"] == "ok" and result["resources"]["orders"]["created"] == 8
    with runtime.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(orders.c.tenant_id == shop.id)).scalar_one() == 8
        lock = conn.execute(select(sync_locks).where(sync_locks.c.tenant_id == shop.id)).one()
    assert lock.outcome == "ok" and lock.owner is None and lock.started_at == NOW and lock.enqueued_at == NOW


def test_the_job_does_not_raise_for_what_a_retry_cannot_fix(runtime):
    shop = make_tenant(runtime.engine, "shop", url=SHOP_URL, credentials=CREDENTIALS)
    bare = make_tenant(runtime.engine, "bare", url="https://bare.example.com")
    assert run_sync_tenant(bare.id) == {"tenant": "bare", "outcome": "no_credentials"}
    with responses.RequestsMock() as mock:
        mock.get(f"{SHOP_URL}/wp-json/wc/v3/products", status=403, json={"code": "woocommerce_rest_cannot_view"})
        result = run_sync_tenant(shop.id)
    assert result["outcome"] == "auth_failed" and "tenant shop" in result["error"]
    claim_lease(runtime.engine, shop.id, shop.name, "someone-else", NOW)
    assert run_sync_tenant(shop.id) == {"tenant": "shop", "outcome": "locked"}


def test_a_stopped_resource_is_logged_at_warning_with_the_tenant_and_what_to_do(runtime, caplog):
    shop = make_tenant(runtime.engine, "shop", url=SHOP_URL, credentials=CREDENTIALS)
    caplog.set_level(logging.INFO)
    with responses.RequestsMock() as mock:
        mock.get(f"{SHOP_URL}/wp-json/wc/v3/products", status=400, json={"code": "x", "message": "no such thing"})
        route_shop(mock, fixture_shop())
        result = run_sync_tenant(shop.id)
    assert result["outcome"] == "failed" and result["resources"]["orders"]["created"] == 8
    [summary] = [r for r in caplog.records if "synced" in r.getMessage()]
    assert summary.levelno == logging.WARNING
    text = summary.getMessage()
    assert text.startswith("tenant shop: synced with errors:") and "STOPPED: products (" in text
    assert "relance sync --tenant shop --resource products" in text


def test_missing_credentials(engine):
    assert missing_credentials(make_tenant(engine, "a").config) == ["consumer_key", "consumer_secret"]
    assert missing_credentials(make_tenant(engine, "b", credentials=CREDENTIALS).config) == []
