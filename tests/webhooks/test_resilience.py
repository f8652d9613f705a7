"""Never losing a delivery: Redis down or flushed, the database down, jobs that die or fail."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select

from core.store.db import make_engine
from core.store.deliveries import deliveries
from core.store.schema import orders
from inbound.errors import RetryableDeliveryError
from inbound.processing import process_delivery
from jobs import context, queues
from jobs.inbound import _CLAIM, CLAIMED, INCOMING, MAX_ATTEMPTS, delivery_job_id, enqueue_delivery, run_sweep
from tests.webhooks.conftest import SECRET, make_runtime
from tests.webhooks.payloads import delivery_headers, order, wp_json
from webhooks.app import create_app

URL = "/hooks/shop/woocommerce"


def post_order(client, **changes):
    body = wp_json(order(**changes))
    return client.post(URL, data=body, headers=delivery_headers("order.updated", body, SECRET))


def states(engine):
    with engine.connect() as conn:
        return [row.state for row in conn.execute(select(deliveries).order_by(deliveries.c.id))]


def order_count(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(orders)).scalar_one()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_redis_unreachable_deliveries_are_accepted_and_swept_later(engine, shop, tmp_path, clock, runtime, work):
    down = make_runtime(engine, tmp_path, clock, f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(down, TESTING=True).test_client()
    assert post_order(client).status_code == 200
    assert post_order(client, id=728, number="728").status_code == 200
    assert states(engine) == ["pending", "pending"]
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.get_json() == {"status": "degraded", "database": "ok", "redis": "down"}

    # Redis is back (the test's real one): too recent for the sweeper at first, then swept once.
    assert run_sweep() == {"enqueued": 0, "alive": 0, "given_up": 0}
    clock.advance(minutes=2)
    assert run_sweep()["enqueued"] == 2
    assert run_sweep() == {"enqueued": 0, "alive": 2, "given_up": 0}
    work()
    assert states(engine) == ["processed", "processed"]
    assert order_count(engine) == 2


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_redis_stopped_then_restarted_loses_nothing(engine, shop, tmp_path, clock):
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(tmp_path)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        redis = Redis(port=port)
        _wait(redis)
        rt = make_runtime(engine, tmp_path, clock, f"redis://127.0.0.1:{port}/0")
        rt._redis = redis
        client = create_app(rt, TESTING=True).test_client()
        assert post_order(client).status_code == 200
        assert Queue(queues.DEFAULT, connection=redis).count == 1

        server.terminate()
        server.wait(10)
        assert post_order(client, id=728, number="728").status_code == 200
        assert post_order(client, id=729, number="729").status_code == 200
        assert states(engine) == ["pending"] * 3

        # Restarted empty (no persistence): the first job is gone too.
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        _wait(redis)
        context.install(rt)
        clock.advance(minutes=2)
        assert run_sweep()["enqueued"] == 3
        from rq import SimpleWorker

        SimpleWorker([Queue(queues.DEFAULT, connection=redis)], connection=redis).work(burst=True)
        assert states(engine) == ["processed"] * 3
        assert order_count(engine) == 3
    finally:
        server.terminate()
        server.wait(10)
        context.install(None)  # type: ignore[arg-type]


def _wait(redis: Redis) -> None:
    for _ in range(100):
        try:
            redis.ping()
            return
        except Exception:  # noqa: BLE001
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def test_redis_flushed_after_enqueue_is_swept(engine, shop, client, redis, clock, work):
    post_order(client)
    redis.flushdb()
    clock.advance(minutes=2)
    assert run_sweep()["enqueued"] == 1
    work()
    assert states(engine) == ["processed"]


def test_a_handed_over_delivery_is_not_enqueued_again_by_the_sweeper(engine, shop, client, redis, clock, work):
    delivery_id = post_order(client).get_json()["delivery"]
    assert redis.lrange(INCOMING, 0, -1) == [str(delivery_id).encode()]
    clock.advance(minutes=2)
    assert run_sweep() == {"enqueued": 0, "alive": 1, "given_up": 0}
    assert Queue(queues.DEFAULT, connection=redis).count == 1  # the one drain job
    work()
    assert states(engine) == ["processed"]


def test_a_delivery_claimed_by_a_drain_that_died_is_swept_then_given_up(engine, shop, client, redis, clock, work):
    delivery_id = post_order(client).get_json()["delivery"]
    Queue(queues.DEFAULT, connection=redis).empty()
    # A drain claimed it, then its worker was killed: the claim stays, scored with the claim time.
    redis.register_script(_CLAIM)(keys=[INCOMING, CLAIMED], args=[100, clock().timestamp()])
    assert redis.llen(INCOMING) == 0
    clock.advance(minutes=2)
    assert run_sweep() == {"enqueued": 0, "alive": 1, "given_up": 0}  # the claim is fresh: the drain may be alive
    clock.advance(minutes=5)
    assert run_sweep()["enqueued"] == 1  # the claim expired: a job of its own
    assert redis.zcard(CLAIMED) == 0
    job = Job.fetch(delivery_job_id(delivery_id), connection=redis)
    Queue(queues.DEFAULT, connection=redis).remove(job)
    job.set_status("failed")  # that job's worker was killed too: RQ marks it failed, our row is still pending
    assert run_sweep()["enqueued"] == 1
    with engine.begin() as conn:
        conn.execute(deliveries.update().values(attempts=MAX_ATTEMPTS))
    Job.fetch(delivery_job_id(delivery_id), connection=redis).set_status("failed")
    assert run_sweep()["given_up"] == 1
    with engine.connect() as conn:
        row = conn.execute(select(deliveries)).one()
    assert row.state == "failed"
    assert f"relance deliveries --replay {delivery_id}" in row.error
    assert enqueue_delivery(redis, delivery_id) is False  # its job still exists: never two


def test_with_the_database_down_the_answer_is_503(tmp_path, clock, redis, redis_db):
    from tests.conftest import REDIS_URL

    dead = make_engine(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", connect_args={"connect_timeout": 2})
    rt = make_runtime(dead, tmp_path, clock, f"{REDIS_URL}/{redis_db}")
    client = create_app(rt, TESTING=True).test_client()
    body = wp_json(order())
    response = client.post(URL, data=body, headers=delivery_headers("order.updated", body, SECRET))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "retry" in response.get_json()["error"]
    assert client.get("/healthz").status_code == 503
    assert client.get("/metrics").status_code == 200


def test_an_unexpected_error_is_recorded_and_raised_for_a_retry(engine, shop, client, runtime, monkeypatch):
    delivery_id = post_order(client).get_json()["delivery"]
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        raise ConnectionError("database connection lost\nDETAIL: Key (email)=(zoe.angstrom@example.fr) exists")

    monkeypatch.setattr("inbound.processing.ingest_batch", flaky)
    with pytest.raises(RetryableDeliveryError) as raised:
        process_delivery(runtime.engine, delivery_id, runtime.clock)
    assert "zoe.angstrom" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    with engine.connect() as conn:
        row = conn.execute(select(deliveries)).one()
    assert (row.state, row.attempts) == ("pending", 1)  # left for the RQ retry, or the sweeper
    assert row.error == "ConnectionError: database connection lost"
    monkeypatch.undo()
    # The RQ retry (or a replay) then processes it.
    outcome = process_delivery(runtime.engine, delivery_id, runtime.clock)
    assert outcome.state == "processed"
    assert order_count(engine) == 1
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.error)).scalar_one() is None


def test_a_job_retry_after_success_changes_nothing(engine, shop, client, runtime, work):
    delivery_id = post_order(client).get_json()["delivery"]
    work()
    outcome = process_delivery(runtime.engine, delivery_id, runtime.clock)
    assert outcome.state == "processed"
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.attempts)).scalar_one() == 1
    assert order_count(engine) == 1


def test_the_sweeper_is_a_periodic_job():
    from jobs.periodic import PERIODIC

    assert any(entry.func == "jobs.inbound.run_sweep" for entry in PERIODIC)


def test_database_errors_are_described_without_the_values_they_quote(engine, shop):
    from sqlalchemy.exc import IntegrityError

    from core.store.schema import tenants
    from inbound.processing import describe_error

    with pytest.raises(IntegrityError) as raised, engine.begin() as conn:
        conn.execute(
            tenants.insert().values(
                name="shop",
                platform="woocommerce",
                url="https://x",
                config={"email": "zoe@example.fr"},
                created_at=shop.created_at,
                updated_at=shop.created_at,
            )
        )
    assert "zoe@example.fr" in str(raised.value)  # SQLAlchemy quotes the parameters
    described = describe_error(raised.value)
    assert "IntegrityError" in described or "UniqueViolation" in described
    assert "zoe@example.fr" not in described and "\n" not in described
