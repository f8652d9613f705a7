"""Reads of a page's rows by id seek the ids on SQLite, not every row of the tenant (a cost growing with the store)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from core.attribution.store.attribution import get_orders
from core.store.ingest import _statements
from tests.conftest import make_tenant


def _plan(engine, run: Callable[[Any], object]) -> str:
    """The query plan of the last statement ``run(conn)`` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with engine.connect() as conn:
        event.listen(engine, "before_cursor_execute", capture)
        try:
            run(conn)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        statement, parameters = seen[-1]
        return " | ".join(row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters))


def test_contacts_their_identities_and_the_attributed_orders_are_read_by_id(sqlite_engine):
    tenant = make_tenant(sqlite_engine, "plans")
    sql = _statements("sqlite")
    params = {"b_tenant": tenant.id, "b_ids": [1, 2, 3]}
    assert "INTEGER PRIMARY KEY" in _plan(sqlite_engine, lambda conn: conn.execute(sql["contacts"], params).all())
    kinds = _plan(sqlite_engine, lambda conn: conn.execute(sql["kinds"], params).all())
    assert "ix_contact_identities_contact" in kinds, kinds
    orders = _plan(sqlite_engine, lambda conn: get_orders(conn, tenant.id, [1, 2, 3]))
    assert "INTEGER PRIMARY KEY" in orders, orders
