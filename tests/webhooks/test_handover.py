"""The intake's fast path: tenant settings cached, no pre-ping, one INSERT, ids handed over to drain jobs."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue
from sqlalchemy import event, func, select

from core.sections import validate_tenant
from core.store.deliveries import deliveries
from core.store.schema import orders
from core.store.tenants import upsert_tenant
from inbound.errors import RetryableDeliveryError
from jobs import inbound, queues
from jobs.inbound import CLAIMED, DRAIN_FLAG, INCOMING, run_drain, run_sweep
from tests.conftest import NOW
from tests.webhooks.conftest import SECRET
from tests.webhooks.payloads import delivery_headers, order, wp_json
from webhooks.intake import TenantCache

URL = "/hooks/shop/woocommerce"


def post_order(client, secret=SECRET, **changes):
    body = wp_json(order(**changes))
    return client.post(URL, data=body, headers=delivery_headers("order.created", body, secret))


def states(engine):
    with engine.connect() as conn:
        return [row.state for row in conn.execute(select(deliveries).order_by(deliveries.c.id))]


def drain_jobs(redis):
    return Queue(queues.DEFAULT, connection=redis).count


def set_secret(engine, secret):
    raw = {"name": "shop", "platform": "woocommerce", "url": "https://shop.example.com", "timezone": "Europe/Paris"}
    with engine.begin() as conn:
        upsert_tenant(conn, validate_tenant({**raw, "webhook_secret": secret, "currency": "EUR"}), NOW)


def test_many_deliveries_share_one_drain_job_and_are_all_processed(engine, shop, client, redis, work):
    ids = [post_order(client, id=700 + n, number=str(700 + n)).get_json()["delivery"] for n in range(5)]
    assert redis.lrange(INCOMING, 0, -1) == [str(i).encode() for i in reversed(ids)]
    assert drain_jobs(redis) == 1
    assert work() == 1
    assert states(engine) == ["processed"] * 5
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(orders)).scalar_one() == 5
    assert redis.llen(INCOMING) == 0 and redis.zcard(CLAIMED) == 0


def test_a_delivery_after_a_drain_started_wakes_another(engine, shop, client, redis, work):
    post_order(client)
    work()
    assert not redis.exists(DRAIN_FLAG)  # the drain lowered the flag when it started
    post_order(client, id=728, number="728")
    assert drain_jobs(redis) == 1
    work()
    assert states(engine) == ["processed", "processed"]


def test_a_flag_left_by_a_process_that_died_falls_by_itself(engine, shop, client, redis, work):
    redis.set(DRAIN_FLAG, 1, px=3000)  # raised, then the process died before enqueuing the drain
    post_order(client)
    assert drain_jobs(redis) == 0  # (3 s: the post must come before the flag falls, even on a loaded machine)
    time.sleep(max(0.0, redis.pttl(DRAIN_FLAG)) / 1000 + 0.05)
    post_order(client, id=728, number="728")
    assert drain_jobs(redis) == 1
    work()
    assert states(engine) == ["processed", "processed"]


def test_the_sweeper_wakes_a_drain_for_ids_left_waiting(engine, shop, client, redis, clock, work):
    post_order(client)
    Queue(queues.DEFAULT, connection=redis).empty()  # the drain job was lost (its worker died before it started)
    redis.delete(DRAIN_FLAG)
    assert run_sweep() == {"enqueued": 0, "alive": 0, "given_up": 0}
    assert drain_jobs(redis) == 1
    work()
    assert states(engine) == ["processed"]


def test_a_failing_database_stops_the_drain_and_puts_the_rest_back(engine, shop, client, redis, monkeypatch, work):
    for n in range(6):
        post_order(client, id=700 + n, number=str(700 + n))

    def down(*args, **kwargs):
        raise RetryableDeliveryError("delivery: OperationalError: server closed the connection")

    monkeypatch.setattr(inbound, "process_delivery", down)
    with pytest.raises(RetryableDeliveryError):
        run_drain()
    assert redis.llen(INCOMING) == 3  # three failed in a row: the other three wait for the retried drain
    assert redis.zcard(CLAIMED) == 0  # the three that failed stay pending for the sweeper
    monkeypatch.undo()
    assert run_drain()["processed"] == 3
    assert states(engine).count("processed") == 3


def test_a_drain_out_of_time_leaves_a_drain_for_the_rest(engine, shop, client, redis, monkeypatch):
    post_order(client)
    Queue(queues.DEFAULT, connection=redis).empty()
    monkeypatch.setattr(inbound, "DRAIN_BUDGET", -1.0)
    assert run_drain()["processed"] == 0
    assert redis.llen(INCOMING) == 1
    assert drain_jobs(redis) == 1


def test_an_id_unknown_to_the_database_is_dropped(engine, shop, redis, runtime):
    redis.lpush(INCOMING, 987654)
    assert run_drain() == {"processed": 0, "retry": 0, "unknown": 1}
    assert redis.llen(INCOMING) == 0 and redis.zcard(CLAIMED) == 0


class CountingPgconn:
    """A libpq connection that notes the first word of each statement it runs (prepared ones by their SQL)."""

    def __init__(self, pgconn, prepared, seen):
        self.pgconn, self.prepared, self.seen = pgconn, prepared, seen

    def exec_prepared(self, name, *args, **kwargs):
        self.seen.append(self.prepared[name].split()[0].decode())
        return self.pgconn.exec_prepared(name, *args, **kwargs)

    def __getattr__(self, name):
        if name.startswith(("exec", "send")):
            self.seen.append(name)
        return getattr(self.pgconn, name)


def test_the_tenant_is_read_once_then_each_delivery_costs_one_statement(engine, shop, app, client, monkeypatch):
    """Nothing but the INSERT per delivery: no pre-ping, no tenant read, no transaction statements."""
    from webhooks import pgintake
    from webhooks.database import intake_connections

    seen = []
    with app.app_context():
        connections = intake_connections()
    if connections is not None:  # PostgreSQL: the intake's own connection, outside SQLAlchemy
        connect = pgintake.IntakeConnection.__init__

        def counted(self, conn, engine):
            connect(self, conn, engine)
            self.pgconn = CountingPgconn(self.pgconn, pgintake._STATEMENTS, seen)

        monkeypatch.setattr(pgintake.IntakeConnection, "__init__", counted)

    @event.listens_for(engine, "before_cursor_execute")
    def sql(conn, cursor, statement, *args):
        seen.append(statement.split()[0])

    try:
        post_order(client)  # connects, reads the tenant
        assert seen[-2:] == ["SELECT", "INSERT"]
        seen.clear()
        for n in range(3):
            assert post_order(client, id=800 + n, number=str(800 + n)).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", sql)
    assert seen == ["INSERT"] * 3


def test_a_new_secret_works_at_once_and_a_revoked_one_stops_within_the_cache_time(engine, shop, app, client):
    app.extensions["relance.tenants"] = TenantCache(ttl=0.5)
    assert post_order(client).status_code == 200  # cached with the old secret
    set_secret(engine, "a-brand-new-webhook-secret")
    # Refused with the cached secret, so checked again against the stored one: accepted at once.
    assert post_order(client, secret="a-brand-new-webhook-secret", id=728, number="728").status_code == 200
    assert post_order(client, secret="a-brand-new-webhook-secret", id=729, number="729").status_code == 200
    set_secret(engine, SECRET)
    time.sleep(0.6)
    assert post_order(client, secret="a-brand-new-webhook-secret", id=730, number="730").status_code == 401


@pytest.mark.postgres
def test_a_connection_closed_by_the_server_is_replaced_and_the_request_retried_once(engine, shop, app, client, caplog):
    if engine.dialect.name != "postgresql":
        pytest.skip("the intake keeps a connection of its own on PostgreSQL only")
    assert post_order(client).status_code == 200
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # what a PostgreSQL restart does to the intake's connection
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
            )
        ).scalar_one()
    admin.dispose()
    assert killed >= 1
    with caplog.at_level("INFO", logger="webhooks"):
        assert post_order(client, id=728, number="728").status_code == 200
    assert "retrying once" in caplog.text
    assert states(engine).count("pending") == 2
    assert post_order(client, id=729, number="729").status_code == 200  # the new connection is kept


@pytest.mark.postgres
def test_with_the_database_gone_for_good_the_retry_fails_and_the_answer_is_503(engine, shop, app, client, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("the intake keeps a connection of its own on PostgreSQL only")
    from webhooks import pgintake

    assert post_order(client).status_code == 200
    admin = sa.create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'"
            )
        )
    admin.dispose()
    connects = []
    real = pgintake.IntakeConnections._connection

    def connect(self):
        connects.append(1)
        if len(connects) > 1:  # the new connection cannot be opened: the server is still down
            monkeypatch.setattr(self, "conninfo", "postgresql://postgres@127.0.0.1:1/nothing")
        return real(self)

    monkeypatch.setattr(pgintake.IntakeConnections, "_connection", connect)
    response = post_order(client, id=728, number="728")
    assert response.status_code == 503 and response.headers["Retry-After"] == "30"
    assert len(connects) == 2
    assert states(engine) == ["pending"]


def test_the_hand_over_counts_the_request_with_it_and_opens_a_new_connection_after_a_failure(
    engine, shop, app, client, redis
):
    from inbound.metrics import REQUESTS_KEY

    first = post_order(client).get_json()["delivery"]
    assert redis.lrange(INCOMING, 0, -1) == [str(first).encode()]
    assert redis.hget(REQUESTS_KEY, "shop\twoocommerce\taccepted") == b"1"
    redis.client_kill_filter(_type="normal", skipme=True)  # what a Redis restart does to the kept connection
    second = post_order(client, id=728, number="728")
    assert second.status_code == 200  # stored: the sweeper queues it
    assert redis.lrange(INCOMING, 0, -1) == [str(first).encode()]
    app.extensions["relance.redis"]["down_until"] = 0.0  # Redis is tried again
    third = post_order(client, id=729, number="729").get_json()["delivery"]
    assert redis.lrange(INCOMING, 0, -1) == [str(third).encode(), str(first).encode()]
    assert redis.hget(REQUESTS_KEY, "shop\twoocommerce\taccepted") == b"2"
    assert states(engine) == ["pending"] * 3


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_the_hand_over_is_one_command_and_survives_redis_losing_its_scripts(engine, shop, tmp_path, clock):
    """On a Redis of its own: the scripts and the command counts are the server's, shared by all its clients."""
    from inbound.metrics import REQUESTS_KEY
    from tests.faults.conftest import free_port
    from tests.webhooks.conftest import make_runtime
    from tests.webhooks.test_resilience import _wait
    from webhooks.app import create_app

    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen([*command, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        redis = Redis(port=port)
        _wait(redis)
        rt = make_runtime(engine, tmp_path, clock, f"redis://127.0.0.1:{port}/0")
        rt._redis = redis
        client = create_app(rt, TESTING=True).test_client()
        first = post_order(client).get_json()["delivery"]  # sent whole: this Redis does not know the script yet
        second = post_order(client, id=728, number="728").get_json()["delivery"]
        redis.script_flush()  # what a Redis restart does to the scripts it knew
        third = post_order(client, id=729, number="729").get_json()["delivery"]
        assert redis.lrange(INCOMING, 0, -1) == [str(i).encode() for i in (third, second, first)]
        assert redis.hget(REQUESTS_KEY, "shop\twoocommerce\taccepted") == b"3"
        assert drain_jobs(redis) == 1
        calls = {name: stats["calls"] for name, stats in redis.info("commandstats").items()}
        assert calls["cmdstat_evalsha"] == 3  # one command per delivery; the two unknown ones sent again whole
        assert calls["cmdstat_eval"] == 2
        assert calls["cmdstat_lpush"] == calls["cmdstat_hincrby"] == 3  # run by the script (Redis counts them)
    finally:
        server.terminate()
        server.wait(10)


def test_the_answer_is_the_json_flask_would_write(engine, shop, app, client):
    from flask import jsonify

    response = post_order(client)
    with app.app_context():
        expected = jsonify(ok=True, delivery=response.get_json()["delivery"])
    assert (response.status_code, response.mimetype, response.data) == (200, expected.mimetype, expected.data)
    assert "Set-Cookie" not in response.headers and "Cookie" not in response.headers.get("Vary", "")
