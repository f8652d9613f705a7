"""Storing a delivery: psycopg's own INSERT on PostgreSQL stores exactly the row SQLAlchemy's statement stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from core.store.deliveries import deliveries
from inbound import deliveries as store
from inbound.deliveries import get_delivery, store_delivery

HEADERS = {"X-WC-Webhook-Topic": "order.created", "User-Agent": "WooCommerce/10.0.2", "X-Quote": 'a "b" \\ é'}
BODY = b'{"id": 727, "note": "caf\xc3\xa9"}\x00\xff'  # any bytes, stored as received


def _row(conn, delivery_id):
    row = conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).one()._asdict()
    row.pop("id")
    return row


@pytest.mark.postgres
def test_the_psycopg_insert_stores_what_the_sqlalchemy_statement_stores(engine, tenant):
    if engine.dialect.name != "postgresql":
        pytest.skip("the psycopg INSERT is PostgreSQL's")
    paris = timezone(timedelta(hours=1))
    now = datetime(2026, 11, 23, 13, 0, 0, 123456, tzinfo=paris)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        fast = store_delivery(conn, tenant.id, "woocommerce", "order.created", HEADERS, BODY, now)
        values = {
            "tenant_id": tenant.id,
            "source": "woocommerce",
            "topic": "order.created",
            "headers": dict(HEADERS),
            "body": BODY,
            "state": store.PENDING,
            "attempts": 0,
            "received_at": now,
        }
        slow = conn.execute(store._STORE, values).scalar_one()
        assert fast != slow
        assert _row(conn, fast) == _row(conn, slow)
        stored = get_delivery(conn, fast)
    assert stored.body == BODY and dict(stored.headers) == HEADERS
    assert stored.received_at == now.astimezone(UTC) and stored.state == "pending" and stored.attempts == 0


@pytest.mark.postgres
def test_the_psycopg_insert_refuses_a_naive_time_like_the_store(engine, tenant):
    if engine.dialect.name != "postgresql":
        pytest.skip("the psycopg INSERT is PostgreSQL's")
    with engine.connect() as conn, pytest.raises(ValueError, match="naive"):
        store_delivery(conn, tenant.id, "woocommerce", "order.created", {}, b"{}", datetime(2026, 11, 23))  # noqa: DTZ001


@pytest.mark.postgres
def test_a_connection_killed_under_the_psycopg_insert_is_invalidated_and_said_so(engine, tenant):
    if engine.dialect.name != "postgresql":
        pytest.skip("the psycopg INSERT is PostgreSQL's")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with engine.connect() as admin:
            admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            store_delivery(conn, tenant.id, "woocommerce", "order.created", {}, b"{}", now)
        assert raised.value.connection_invalidated
        assert conn.invalidated
    with engine.connect() as conn:  # the pool hands out a working connection again
        assert conn.execute(select(sa.func.count()).select_from(deliveries)).scalar_one() == 0


@pytest.mark.postgres
def test_a_database_refusal_under_the_psycopg_insert_is_a_dbapi_error(engine, tenant):
    if engine.dialect.name != "postgresql":
        pytest.skip("the psycopg INSERT is PostgreSQL's")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        with pytest.raises(DBAPIError) as raised:
            store_delivery(conn, tenant.id + 1000, "woocommerce", "order.created", {}, b"{}", now)  # no such tenant
        assert not raised.value.connection_invalidated
        assert "ForeignKeyViolation" in type(raised.value.orig).__name__
        assert store_delivery(conn, tenant.id, "woocommerce", "order.created", {}, b"{}", now) > 0
