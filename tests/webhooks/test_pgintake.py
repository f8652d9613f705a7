"""The intake's own PostgreSQL connection (``webhooks.pgintake``) reads and writes what the store functions do."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.store.deliveries import deliveries
from core.store.tenants import keyring_of, stored_settings
from inbound.deliveries import store_delivery
from webhooks.context import DATABASE_CONNECT_TIMEOUT
from webhooks.pgintake import IntakeConnections

HEADERS = {"X-WC-Webhook-Topic": "order.created", "User-Agent": "WooCommerce/10.0.2", "X-Quote": 'a "b" \\ é'}
BODY = b'{"id": 727, "note": "caf\xc3\xa9"}\x00\xff\\x00'  # any bytes, stored as received


@pytest.fixture
def connections(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the intake keeps a connection of its own on PostgreSQL only")
    return IntakeConnections(engine, DATABASE_CONNECT_TIMEOUT)


def _row(engine, delivery_id):
    with engine.connect() as conn:
        row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()._asdict()
    row.pop("id")
    return row


@pytest.mark.postgres
def test_it_stores_the_row_the_store_function_stores(engine, shop, connections):
    now = datetime(2026, 11, 23, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    ours = connections.run(lambda db: db.store_delivery(shop.id, "woocommerce", "order.created", HEADERS, BODY, now))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        theirs = store_delivery(conn, shop.id, "woocommerce", "order.created", HEADERS, BODY, now)
    assert ours != theirs
    assert _row(engine, ours) == _row(engine, theirs)
    assert _row(engine, ours)["received_at"] == now


@pytest.mark.postgres
def test_it_reads_the_tenant_the_store_function_reads(engine, shop, connections):
    with engine.connect() as conn:
        expected, keyring = stored_settings(conn, "shop"), keyring_of(conn)
    assert connections.run(lambda db: db.tenant_settings("shop")) == expected
    assert connections.run(lambda db: db.keyring) is keyring is not None  # the secrets are sealed in the tests
    assert connections.run(lambda db: db.tenant_settings("nobody")) is None


@pytest.mark.postgres
def test_each_thread_keeps_its_own_connection(engine, shop, connections):
    ids = {}

    def backend() -> None:
        ids[threading.get_ident()] = [connections.run(lambda db: db.conn.info.backend_pid) for _ in range(2)]

    threads = [threading.Thread(target=backend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pids = list(ids.values())
    assert all(first == second for first, second in pids)  # kept between two requests
    assert pids[0][0] != pids[1][0]  # one per thread


@pytest.mark.postgres
def test_errors_are_raised_as_sqlalchemys_without_the_values(engine, shop, connections):
    now = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    with pytest.raises(IntegrityError) as raised:  # no such tenant
        connections.run(lambda db: db.store_delivery(shop.id + 1000, "woocommerce", "t", {}, b"secret body", now))
    assert not raised.value.connection_invalidated
    assert "secret body" not in str(raised.value)
    with pytest.raises(ValueError, match="naive datetime"):
        connections.run(lambda db: db.store_delivery(shop.id, "woocommerce", "t", {}, b"{}", now.replace(tzinfo=None)))
    assert connections.run(lambda db: db.store_delivery(shop.id, "woocommerce", "t", {}, b"{}", now)) > 0


@pytest.mark.postgres
def test_a_database_that_cannot_be_reached_is_a_dbapi_error(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the intake keeps a connection of its own on PostgreSQL only")
    from tests.faults.conftest import free_port

    dead = IntakeConnections(engine, 2)
    dead.conninfo = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
    with pytest.raises(DBAPIError):
        dead.run(lambda db: db.tenant_settings("shop"))
