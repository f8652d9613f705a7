"""A page's events are inserted last, with their contact and stored name (``ingest_events``): the stored rows are
exactly those of inserting them first and writing contact and name after (``CLAIM_FIRST``), and a message id is
applied by exactly one transaction, also when two store it at the same time."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.store import ingest as ingest_module
from core.store.ingest import ingest_events
from core.store.schema import contact_identities, events, orders
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order
from tests.core.test_store_ingest_page import _mixed_page, _outcome, _snapshot


def _events(engine, tenant) -> list[tuple]:
    """Every stored event, in order, with the identities of its contact (ids differ between tenants)."""
    with engine.connect() as conn:
        owners: dict[int, list] = {}
        for contact_id, kind, value in conn.execute(
            sa.select(contact_identities.c.contact_id, contact_identities.c.kind, contact_identities.c.value).where(
                contact_identities.c.tenant_id == tenant.id
            )
        ):
            owners.setdefault(contact_id, []).append((kind, value))
        rows = conn.execute(sa.select(events).where(events.c.tenant_id == tenant.id).order_by(events.c.id)).mappings()
        return [
            (r["type"], r["name"], r["occurred_at"], r["received_at"], r["source"], r["properties"],
             sorted(owners.get(r["contact_id"], [])) if r["contact_id"] else None)
            for r in rows
        ]  # fmt: skip


def _pages() -> list[list]:
    again = [
        order("100", "refunded", "2026-10-06T10:00:00Z", {"email": "marie@x.fr"}),
        order("103", "completed", "2026-10-06T11:00:00Z", {"email": "new@x.fr", "external_id": "9"}),
        event(None, "2026-10-06T12:00:00Z", {"external_id": "9", "email": "paul@x.fr"}, source="woocommerce"),
        event("page_viewed", "2026-10-06T13:00:00Z", {"email": "paul@x.fr"}),
    ]
    return [_mixed_page("x"), again]


def test_the_stored_rows_are_those_of_inserting_the_events_first(engine, monkeypatch):
    last, claimed = make_tenant(engine, "last"), make_tenant(engine, "claimed")
    results = {}
    for tenant, claim_first in ((last, False), (claimed, True)):
        monkeypatch.setattr(ingest_module, "CLAIM_FIRST", claim_first)
        results[claim_first] = []
        for page in _pages():
            with engine.begin() as conn:
                results[claim_first].append(
                    [_outcome(r) for r in ingest_events(conn, tenant.id, "woocommerce", page, NOW)]
                )
    assert results[False] == results[True]
    assert _snapshot(engine, last) == _snapshot(engine, claimed)
    assert _events(engine, last) == _events(engine, claimed)
    merged = [row for row in _events(engine, last) if row[1] == "account_created"]
    assert merged[0][-1] == [("email", "marie@x.fr"), ("ext:woocommerce", "7"), ("ext:woocommerce", "8")]


def test_a_page_stored_again_is_duplicates_only(engine):
    tenant = make_tenant(engine, "again")
    page = _mixed_page("x")
    with engine.begin() as conn:
        ingest_events(conn, tenant.id, "woocommerce", page, NOW)
    before = _events(engine, tenant)
    extra = event("page_viewed", "2026-10-07T10:00:00Z", {"email": "marie@x.fr"})
    with engine.begin() as conn:
        results = ingest_events(conn, tenant.id, "woocommerce", [*page, extra], NOW)
    assert [r.outcome for r in results] == ["duplicate"] * len(page) + ["stored"]
    assert _events(engine, tenant) == [*before, _events(engine, tenant)[-1]]
    assert len(before) == len(page) - 1


def test_an_autocommit_connection_stores_a_page_as_a_transaction_does(engine):
    """The sending job ingests its opt-outs on an AUTOCOMMIT connection: no transaction block holds a savepoint
    there, so the page is stored events first; the rows are those a transaction stores."""
    in_transaction, autocommit = make_tenant(engine, "in-transaction"), make_tenant(engine, "autocommit")
    outcomes = {}
    for tenant in (in_transaction, autocommit):
        outcomes[tenant.name] = []
        for page in _pages():
            if tenant is autocommit:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    stored = ingest_events(conn, tenant.id, "woocommerce", page, NOW)
            else:
                with engine.begin() as conn:
                    stored = ingest_events(conn, tenant.id, "woocommerce", page, NOW)
            outcomes[tenant.name].append([_outcome(r) for r in stored])
    assert outcomes["in-transaction"] == outcomes["autocommit"]
    assert _snapshot(engine, in_transaction) == _snapshot(engine, autocommit)
    assert _events(engine, in_transaction) == _events(engine, autocommit)


def test_two_transactions_storing_the_same_event_apply_it_once(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers: SQLite has one writer at a time")
    tenant = make_tenant(engine, "race")
    shared = order("500", "completed", "2026-10-01T10:00:00Z", {"email": "race@x.fr"}, total="50.00")
    other = event("page_viewed", "2026-10-01T11:00:00Z", {"email": "solo@x.fr"})
    outcome: dict[str, object] = {}
    first = engine.connect()
    first.begin()
    try:
        ingest_events(first, tenant.id, "woocommerce", [shared], NOW)  # stored, not committed yet

        def second() -> None:
            try:
                with engine.begin() as conn:
                    outcome["results"] = ingest_events(conn, tenant.id, "woocommerce", [shared, other], NOW)
            except Exception as exc:  # noqa: BLE001 - reported below
                outcome["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(2)
        assert thread.is_alive()  # waiting for the first transaction's rows
        first.commit()
    finally:
        first.close()
    thread.join(30)
    assert "error" not in outcome, outcome
    assert [r.outcome for r in outcome["results"]] == ["duplicate", "stored"]
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(orders).where(orders.c.tenant_id == tenant.id)).scalar()
            == 1
        )
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(events).where(events.c.tenant_id == tenant.id)).scalar()
            == 2
        )
        emails = (
            conn.execute(sa.select(contact_identities.c.value).where(contact_identities.c.tenant_id == tenant.id))
            .scalars()
            .all()
        )
    assert sorted(emails) == ["race@x.fr", "solo@x.fr"]
