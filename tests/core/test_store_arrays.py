"""PostgreSQL receives a page's new rows as one JSON document (``core.store.ingest_buffer._pg_document``) and Python
lists as binary arrays (``core.store.db._pg_binary_arrays``): the lookups and the rows JSON cannot carry pass one
array per column, and psycopg's text form escaped every element with a regular expression in Python."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper

from core.pipeline import ingest_page
from core.store.ingest_buffer import insert_rows
from core.store.schema import events, order_items, orders
from tests.conftest import NOW, make_tenant, statements_run
from tests.core.helpers import order

AWKWARD = ["plain", 'with "quotes"', "back\\slash", "comma, {brace}", "NULL", "", "accents éà", "tab\tnew\nline"]


def test_lists_are_sent_as_binary_arrays(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's array parameters")
    with engine.connect() as conn:
        adapters = conn.connection.driver_connection.adapters
        assert isinstance(adapters.get_dumper(list, PyFormat.AUTO)(list), ListBinaryDumper)


def test_bulk_rows_with_awkward_text_round_trip(engine):
    tenant = make_tenant(engine, "arrays")
    rows = [
        {
            "tenant_id": tenant.id,
            "message_id": f"m-{i}",
            "type": "track",
            "name": text or "empty",
            "occurred_at": NOW,
            "received_at": NOW,
            "source": "api",
            "properties": {"text": text, "list": [text, None, 3], "price": "12.50"},
        }
        for i, text in enumerate(AWKWARD)
    ]
    with engine.begin() as conn:
        ids = [row.id for row in insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)]
        assert len(ids) == len(AWKWARD)
        again = insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)
        assert again == []  # every message id conflicts
        stored = conn.execute(events.select().where(events.c.id.in_(ids)).order_by(events.c.id)).mappings().all()
        assert [row["properties"]["text"] for row in stored] == AWKWARD
        assert [row["properties"]["list"] for row in stored] == [[text, None, 3] for text in AWKWARD]
        assert [row["name"] for row in stored] == [text or "empty" for text in AWKWARD]


def test_an_order_page_with_awkward_text_round_trips(engine):
    tenant = make_tenant(engine, "arrays-orders")
    page = [
        order(
            f"o{i}", "completed", "2026-10-01T10:00:00Z", {"email": f"c{i}@x.fr", "first_name": text or None},
            total="9.99",
            items=[{"product_id": f"p{i}", "name": text or "x", "quantity": 2, "price": "4.995",
                    "categories": [text, "Thé & café"] if text else []}],
        )
        for i, text in enumerate(AWKWARD)
    ]  # fmt: skip
    with engine.begin() as conn:
        results = ingest_page(conn, tenant, page, NOW)
        assert [result.outcome for result in results] == ["stored"] * len(AWKWARD)
        names = conn.execute(
            sa.select(order_items.c.name, order_items.c.categories, order_items.c.unit_price)
            .join(orders, orders.c.id == order_items.c.order_id)
            .where(orders.c.tenant_id == tenant.id)
            .order_by(orders.c.id)
        ).all()
    assert [row.name for row in names] == [text or "x" for text in AWKWARD]
    assert [row.categories for row in names] == [[text, "Thé & café"] if text else [] for text in AWKWARD]
    assert {row.unit_price for row in names} == {Decimal("4.995")}


def _event_rows(tenant_id: int, properties: list[dict], **overrides: object) -> list[dict]:
    return [
        {
            "tenant_id": tenant_id,
            "message_id": f"doc-{i}",
            "type": "track",
            "name": "viewed",
            "occurred_at": NOW,
            "received_at": NOW,
            "source": "api",
            "properties": props,
            **overrides,
        }
        for i, props in enumerate(properties)
    ]


def test_page_rows_go_as_one_json_document_and_read_back_the_same(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's JSON document of rows")
    tenant = make_tenant(engine, "arrays-document")
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 10, 1, 11, 30, 15, 123456, tzinfo=paris)
    properties = [
        {"price": Decimal("12.50"), "at": moment, "nested": {"n": [1, 2.5, None, True]}, 7: "int key"},
        {"text": AWKWARD[1], "empty": {}, "unicode": "Thé ✓ 😀"},
    ]
    rows = _event_rows(tenant.id, properties, occurred_at=moment)
    with engine.begin() as conn, statements_run(engine) as run:
        ids = [row.id for row in insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)]
        assert len(ids) == 2 and ids == sorted(ids)
        assert any("jsonb_to_recordset" in statement for statement in run)
        stored = conn.execute(events.select().where(events.c.id.in_(ids)).order_by(events.c.id)).mappings().all()
    assert [row["message_id"] for row in stored] == ["doc-0", "doc-1"]
    assert {row["occurred_at"] for row in stored} == {moment}  # the same instant, read back in UTC
    # Decimal as str, a datetime in ISO 8601 (as orjson writes it, in C), keys as strings
    assert stored[0]["properties"] == {
        "price": "12.50", "at": "2026-10-01T11:30:15.123456+01:00", "nested": {"n": [1, 2.5, None, True]},
        "7": "int key",
    }  # fmt: skip
    assert stored[1]["properties"] == properties[1]


def test_rows_orjson_cannot_write_take_the_arrays(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's JSON document of rows")
    tenant = make_tenant(engine, "arrays-bigint")
    huge = 2**70
    moment = datetime(2026, 10, 1, 11, 30, 15, tzinfo=timezone(timedelta(hours=1)))
    rows = _event_rows(tenant.id, [{"id": huge, "at": moment, "price": Decimal("1.50")}])
    with engine.begin() as conn, statements_run(engine) as run:
        (row,) = insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)
        assert run and not any("jsonb_to_recordset" in statement for statement in run)
        stored = conn.execute(sa.select(events.c.properties).where(events.c.id == row.id)).scalar_one()
    assert stored == {"id": huge, "at": "2026-10-01T11:30:15+01:00", "price": "1.50"}  # as the document writes them


def test_a_naive_datetime_is_refused_and_nothing_is_written(engine):
    tenant = make_tenant(engine, "arrays-naive")
    rows = _event_rows(tenant.id, [{}, {}])
    rows[1]["occurred_at"] = datetime(2026, 10, 1, 12, 0)  # no time zone
    with pytest.raises((ValueError, sa.exc.StatementError), match="naive datetime"), engine.begin() as conn:
        insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).where(events.c.tenant_id == tenant.id)).scalar_one()
    assert count == 0
