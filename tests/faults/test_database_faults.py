"""PostgreSQL stopped during webhook intake, with a real ``relance worker`` running: 503s, then nothing lost."""

from __future__ import annotations

import os

from sqlalchemy import func, select

from core.store.db import make_engine, migrate
from core.store.deliveries import deliveries
from core.store.schema import orders
from relance.wiring import system_clock
from tests.conftest import make_tenant
from tests.faults.conftest import wait_until
from tests.webhooks.conftest import SECRET, make_runtime
from tests.webhooks.payloads import delivery_headers, order, wp_json
from webhooks.app import create_app

URL = "/hooks/shop/woocommerce"


def _post(client, number: int):
    body = wp_json(order(id=number, number=str(number)))
    return client.post(URL, data=body, headers=delivery_headers("order.updated", body, SECRET))


def _states(engine) -> list[str]:
    with engine.connect() as conn:
        return [row.state for row in conn.execute(select(deliveries).order_by(deliveries.c.id))]


def _orders(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(orders)).scalar_one()


def test_postgresql_stopped_during_intake_answers_503_then_loses_nothing(
    pg_cluster, redis_server, start_worker, tmp_path
):
    engine = make_engine(pg_cluster.url)
    migrate(engine)
    make_tenant(engine, "shop", webhook_secret=SECRET, currency="EUR")
    env = {
        **os.environ,
        "RELANCE_DATABASE_URL": pg_cluster.url,
        "RELANCE_REDIS_URL": redis_server.url,
        "RELANCE_DATA_DIR": str(tmp_path / "data"),
        "RELANCE_SECRET_KEY": "test-secret-key-0123456789",
    }
    worker = start_worker(env=env)
    client = create_app(make_runtime(engine, tmp_path, system_clock, redis_server.url), TESTING=True).test_client()

    assert _post(client, 801).status_code == 200
    wait_until(lambda: _states(engine) == ["processed"], 60, what="the first delivery to be processed")

    pg_cluster.stop()
    down = _post(client, 802)
    assert down.status_code == 503  # WooCommerce retries it; never a 500
    assert down.headers["Retry-After"]
    assert client.get("/healthz").status_code == 503
    assert worker.alive()

    pg_cluster.start()
    assert _post(client, 802).status_code == 200  # the retry
    assert _post(client, 803).status_code == 200
    wait_until(lambda: _states(engine) == ["processed"] * 3, 120, what="every acknowledged delivery processed")
    assert _orders(engine) == 3
    assert worker.alive()
    assert client.get("/healthz").get_json()["workers"]["alive"] == 1
