"""A backfill keeps the planner's statistics up with the load: a table analyzed again each time it doubles."""

from __future__ import annotations

import sqlalchemy as sa

from core.pipeline import ingest_page
from core.store.ingest import LOADED, analyze_grown
from tests.conftest import NOW, make_tenant, statements_run
from tests.core.helpers import order


def _page(start: int, count: int) -> list:
    return [
        order(str(i), "completed", "2026-10-01T10:00:00Z", {"email": f"c{i}@x.fr"}, note="x" * 200)
        for i in range(start, start + count)
    ]


def _relpages(conn, table: str) -> int:
    return conn.execute(sa.text("SELECT relpages FROM pg_class WHERE relname = :t"), {"t": table}).scalar_one()


def test_tables_that_doubled_are_analyzed_between_the_pages_of_a_backfill(engine):
    if engine.dialect.name == "postgresql":  # the tables' files back to empty (the tests before only deleted rows)
        with engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE " + ", ".join(LOADED) + " CASCADE")
    tenant = make_tenant(engine, "grown")
    with engine.begin() as conn:
        ingest_page(conn, tenant, _page(0, 300), NOW)  # not a backfill: nothing analyzed
        if engine.dialect.name != "postgresql":
            assert analyze_grown(conn) == []
            return
        assert _relpages(conn, "events") == 0
    with engine.begin() as conn:
        ingest_page(conn, tenant, _page(300, 10), NOW, backfill=True)  # the page starts with the statistics
        events_pages = _relpages(conn, "events")
        assert events_pages >= 8
        assert analyze_grown(conn) == []  # nothing doubled since
    with engine.begin() as conn:
        ingest_page(conn, tenant, _page(310, 400), NOW)
        with statements_run(engine) as run:
            assert "events" in analyze_grown(conn)
        assert _relpages(conn, "events") >= 2 * events_pages
    # the keyed columns only: not the events' JSON, whose statistics autovacuum's own ANALYZE takes later
    (analyze,) = [statement for statement in run if statement.startswith("ANALYZE")]
    assert "events (id, tenant_id, message_id, name, contact_id, occurred_at)" in analyze
    assert "properties" not in analyze and "note" not in analyze
