"""SQLite: ``insert_rows`` runs its rows through the driver (``ingest_buffer._sqlite_insert``); what it stores is
byte for byte what SQLAlchemy's own INSERT stores, and new ids come back for every row, in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from core.store import ingest_buffer
from core.store.ingest_buffer import insert_rows
from core.store.schema import consents, contacts, events, order_items, orders
from core.store.types import UTCDateTime, sqlite_moment
from tests.conftest import NOW, make_tenant


def _raw(conn: sa.Connection, table: sa.Table, tenant_id: int) -> list[tuple]:
    """The stored values as SQLite holds them (no result processing), without the ids."""
    columns = [c.name for c in table.c if c.name not in ("id", "contact_id")]
    query = f"SELECT {', '.join(columns)} FROM {table.name} WHERE tenant_id = ? ORDER BY id"  # noqa: S608
    return [tuple(row) for row in conn.exec_driver_sql(query, (tenant_id,))]


def test_rows_are_stored_as_sqlalchemy_stores_them(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's driver path")
    direct, usual = make_tenant(engine, "direct"), make_tenant(engine, "usual")
    paris = datetime(2026, 10, 1, 12, 30, 15, 123456, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    with engine.begin() as conn:
        for tenant, write in ((direct, insert_rows), (usual, lambda c, t, rows, *a: c.execute(sa.insert(t), rows))):
            people = [
                {"tenant_id": tenant.id, "email": f"p{i}@x.fr", "first_name": "Zoë \"Z\"" if i else None,
                 "attributes": {"vip": True, "n": i, "nested": {"é": [1.5, None]}}, "created_at": NOW,
                 "updated_at": paris, "email_consent": bool(i % 2), "email_consent_at": NOW + timedelta(days=i)}
                for i in range(3)
            ]  # fmt: skip
            write(conn, contacts, people)
            ids = [row.id for row in conn.execute(sa.select(contacts.c.id).where(contacts.c.tenant_id == tenant.id))]
            write(conn, consents, [
                {"tenant_id": tenant.id, "contact_id": ids[0], "channel": "email", "granted": True, "at": paris,
                 "source": "api", "message_id": None, "detail": "form"}
            ])  # fmt: skip
            write(conn, orders, [
                {"tenant_id": tenant.id, "source": "woocommerce", "external_id": f"o{i}", "number": None,
                 "contact_id": ids[i], "status": "completed", "currency": "EUR", "total": Decimal("12.3450"),
                 "cart_id": None, "created_at": NOW, "updated_at": paris, "paid_at": None, "ingested_at": NOW}
                for i in range(3)
            ])  # fmt: skip
    with engine.connect() as conn:
        for table in (contacts, consents, orders):
            assert _raw(conn, table, direct.id) == [(direct.id, *row[1:]) for row in _raw(conn, table, usual.id)], (
                table.name
            )


def test_many_rows_return_their_new_ids_in_order(engine, monkeypatch):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's driver path")
    monkeypatch.setattr(ingest_buffer, "SQLITE_ROWS_PER_INSERT", 7)  # several statements for one call
    tenant = make_tenant(engine, "chunks")
    rows = [
        {"tenant_id": tenant.id, "message_id": f"m{i}", "type": "track", "name": "x", "occurred_at": NOW,
         "received_at": NOW, "source": "api", "properties": {"i": i}}
        for i in range(30)
    ]  # fmt: skip
    with engine.begin() as conn:
        insert_rows(conn, events, rows[:5], ("id", "message_id"), ignore=True)
        found = insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)
        assert sorted(row.message_id for row in found) == sorted(f"m{i}" for i in range(5, 30))
        stored = dict(conn.execute(sa.select(events.c.message_id, events.c.properties)).all())
    assert {row.message_id: row.id for row in found} == {f"m{i}": found[0].id + i - 5 for i in range(5, 30)}
    assert stored == {f"m{i}": {"i": i} for i in range(30)}
    with engine.begin() as conn:
        items = [
            {"tenant_id": tenant.id, "order_id": None, "position": 0, "product_id": "p", "variant_id": None,
             "sku": None, "name": "n", "quantity": 1, "unit_price": Decimal("1.5"), "brand": None,
             "categories": ["a", "b"], "url": None, "image_url": None}
        ]  # fmt: skip
        with pytest.raises(sa.exc.IntegrityError):  # NOT NULL still enforced: ON CONFLICT is not OR IGNORE
            insert_rows(conn, order_items, items)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1900, 1, 1, tzinfo=UTC),  # the earliest the store holds
        datetime(2026, 11, 23, 12, 0, tzinfo=UTC),  # no microseconds: still written with six digits
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris")),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("America/Los_Angeles")),
        datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 6, 1, 8, 0, tzinfo=ZoneInfo("UTC")),  # UTC, but not datetime.UTC
        datetime(2026, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    ],
)
def test_a_moment_is_bound_as_the_decorator_and_sqlites_datetime_bind_it(moment):
    dialect = sqlite.dialect()
    bind = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is sqlite_moment
    usual = sqlite.DATETIME().bind_processor(dialect)  # SQLAlchemy's, after process_bind_param's UTC
    assert bind(moment) == usual(UTCDateTime().process_bind_param(moment, dialect))
    assert bind(None) is None


def test_a_naive_moment_is_refused_as_utcdatetime_refuses_it():
    with pytest.raises(ValueError, match="naive datetime"):
        sqlite_moment(datetime(2026, 11, 23, 12, 0))


def test_json_values_are_written_by_orjson_and_read_back_the_same(engine):
    """The engines write JSON columns with ``core.store.db.json_text`` (orjson, compact): on SQLite the stored text
    is orjson's; what orjson cannot write takes ``json.dumps``; a type JSON does not know is refused as before."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the text SQLite stores")
    tenant = make_tenant(engine, "json-text")
    attributes = [
        {"vip": True, "tags": ["Thé", None, 1.5], 7: "int key"},
        {"huge": 2**70},  # beyond 64 bits: json.dumps writes it
    ]
    with engine.begin() as conn:
        for i, value in enumerate(attributes):
            conn.execute(sa.insert(contacts).values(tenant_id=tenant.id, email=f"j{i}@x.fr", attributes=value,
                                                    created_at=NOW, updated_at=NOW))  # fmt: skip
    with engine.connect() as conn:
        query = "SELECT attributes FROM contacts WHERE tenant_id = ? ORDER BY id"
        raw = [row[0] for row in conn.exec_driver_sql(query, (tenant.id,))]
        read = conn.execute(
            sa.select(contacts.c.attributes).where(contacts.c.tenant_id == tenant.id).order_by(contacts.c.id)
        ).scalars()
        assert list(read) == [{"vip": True, "tags": ["Thé", None, 1.5], "7": "int key"}, {"huge": 2**70}]
    assert raw == ['{"vip":true,"tags":["Thé",null,1.5],"7":"int key"}', '{"huge": 1180591620717411303424}']
    with pytest.raises(sa.exc.StatementError, match="not JSON serializable"), engine.begin() as conn:
        conn.execute(sa.insert(contacts).values(tenant_id=tenant.id, email="d@x.fr", attributes={"at": NOW},
                                                created_at=NOW, updated_at=NOW))  # fmt: skip
