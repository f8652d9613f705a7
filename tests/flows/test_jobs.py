"""The flow jobs on a real Redis with RQ workers: sweep, batches, send hand-off, Redis lost."""

from datetime import UTC, datetime, timedelta

import pytest
from rq import SimpleWorker

from core.pipeline import ingest
from core.store.tenants import get_tenant
from jobs import context, flows, queues
from relance.settings import Settings
from relance.wiring import Runtime

from .helpers import ONLY_CART, at, cart, flow_tenant, item, outbox, person

SENT_KEY = "test:flows:sent"


def record_send(message_ids: list[int]) -> int:
    """Stands in for jobs.send.run_send: notes which messages it was given."""
    redis = context.current().redis
    for message_id in message_ids:
        redis.rpush(SENT_KEY, message_id)
    return len(message_ids)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def runtime(engine, redis, tmp_path, monkeypatch):
    settings = Settings.from_env(
        {
            "RELANCE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RELANCE_DATA_DIR": str(tmp_path),
            "RELANCE_SECRET_KEY": "test-secret-key-0123456789",
        }
    )
    clock = Clock(at())
    installed = Runtime(settings=settings, engine=engine, clock=clock, _redis=redis)
    monkeypatch.setattr(context, "_installed", installed)
    monkeypatch.setattr(flows, "SEND_JOB", "tests.flows.test_jobs.record_send")
    monkeypatch.setattr(flows, "BATCH_SIZE", 10)
    return installed


def _carts(engine, count: int, start: datetime):
    tenant = flow_tenant(engine, ONLY_CART)
    with engine.begin() as conn:
        shop = get_tenant(conn, tenant.name)
        for index in range(count):
            ingest(conn, shop, cart(start, person(f"c{index}@example.fr"), [item("p1")], f"cart{index}"), start)
    return shop


def _work(redis) -> None:
    SimpleWorker([queues.queue(redis)], connection=redis).work(burst=True, logging_level="WARNING")


def test_due_runs_are_swept_in_batches_and_processed_by_workers(engine, redis, runtime):
    shop = _carts(engine, 25, at())
    runtime.clock.now = at(minutes=30)
    assert flows.run_sweep() == {"claimed": 0, "jobs": 0}
    runtime.clock.now = at(hours=1)
    assert flows.run_sweep() == {"claimed": 25, "jobs": 3}
    assert flows.run_sweep() == {"claimed": 0, "jobs": 0}  # claimed: not enqueued twice
    _work(redis)
    rows = outbox(engine, shop)
    assert len(rows) == 25 and {(r.step, r.status) for r in rows} == {(1, "scheduled")}
    sent = sorted(int(i) for i in redis.lrange(SENT_KEY, 0, -1))
    assert sent == sorted(r.id for r in rows)


def test_nothing_is_lost_or_sent_twice_when_redis_loses_the_jobs(engine, redis, runtime):
    shop = _carts(engine, 12, at())
    runtime.clock.now = at(hours=1)
    assert flows.run_sweep()["claimed"] == 12
    redis.flushdb()  # the queued jobs are gone
    _work(redis)
    assert outbox(engine, shop) == []
    runtime.clock.now = at(hours=1, minutes=5)
    assert flows.run_sweep()["claimed"] == 0  # still claimed
    runtime.clock.now = at(hours=1, minutes=11)
    assert flows.run_sweep()["claimed"] == 12  # the claim expired: swept again
    _work(redis)
    _work(redis)
    rows = outbox(engine, shop)
    assert len(rows) == 12 and len({r.dedupe_key for r in rows}) == 12


def test_a_message_moved_out_of_quiet_hours_is_handed_over_at_its_time(engine, redis, runtime):
    evening = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # 20:30 in Paris: step 1 due 21:30
    shop = _carts(engine, 1, evening)
    runtime.clock.now = evening + timedelta(hours=1)
    flows.run_sweep()
    _work(redis)
    (row,) = outbox(engine, shop)
    assert row.due_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC) and row.reason == "quiet_hours"
    scheduled = queues.queue(redis).scheduled_job_registry
    (job_id,) = scheduled.get_job_ids()
    job = queues.queue(redis).fetch_job(job_id)
    assert job.func_name == "tests.flows.test_jobs.record_send" and job.args == ([row.id],)
    assert redis.lrange(SENT_KEY, 0, -1) == []


def test_the_periodic_schedule_holds_the_flow_jobs():
    from jobs.periodic import PERIODIC, resolve

    entries = {(entry.func, entry.args): entry for entry in PERIODIC if entry.func.startswith("jobs.flows.")}
    assert entries[("jobs.flows.run_sweep", ())].interval_seconds == 30
    assert entries[("jobs.flows.run_periodic", ("dates",))].interval_seconds == 3600
    daily = entries[("jobs.flows.run_periodic", ("replenishment",))]
    assert daily.interval_seconds == 86400 and daily.queue == "relance-bulk"
    assert all(callable(resolve(name)) for name, _ in entries)


def test_date_triggers_and_replenishment_jobs_run_for_every_tenant(engine, redis, runtime):
    flow_tenant(engine, ONLY_CART, name="one")
    other = flow_tenant(engine, {}, name="two")
    with engine.begin() as conn:
        ingest(conn, get_tenant(conn, "two"), cart(at(), person("b@example.fr", birthday="1990-03-03"), []), at())
    assert flows.run_periodic("dates") == {"one": 0, "two": 1}
    assert flows.run_periodic("replenishment") == {"one": 0, "two": 0}
    del other
