"""``run_sync`` against a fake WooCommerce shop, on SQLite and PostgreSQL: fill, repeat, resume, lock."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import responses
from sqlalchemy import func, select, update

from connectors import sync as sync_module
from connectors.base import Resource
from connectors.cursors import get_cursor
from connectors.errors import ConnectorAuthError, SyncLockedError
from connectors.lease import claim_lease
from connectors.sync import run_sync
from connectors.woocommerce.connector import from_tenant
from core.store.schema import contacts, events, orders, products
from core.store.sync_state import sync_locks
from tests.conftest import NOW, make_tenant
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, fixture_shop, params_of, route_shop, woo_fixture


def clock():
    return NOW


@pytest.fixture
def woo(engine):
    return make_tenant(
        engine,
        "shop",
        url=SHOP_URL,
        credentials=CREDENTIALS,
        sync={"birthday_meta_key": "billing_birth_date"},
    )


def connector(tenant, page_size=3):
    return from_tenant(tenant.config, sleep=lambda s: None, page_size=page_size)


def counts(engine, tenant_id):
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).where(table.c.tenant_id == tenant_id)).scalar_one()
            for table in (contacts, events, orders, products)
        }


def stored_totals(engine, tenant_id):
    with engine.connect() as conn:
        rows = conn.execute(
            select(orders.c.external_id, orders.c.total, orders.c.status).where(orders.c.tenant_id == tenant_id)
        )
        return {row.external_id: (row.total, row.status) for row in rows}


PLATFORM_TOTALS = {str(o["id"]): Decimal(o["total"]) for o in woo_fixture("orders")}


def test_sync_fills_the_store_and_a_second_sync_changes_nothing(engine, woo):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, connector(woo), clock=clock)
    assert report.ok
    by = {r: s.as_dict() for r, s in report.resources.items()}
    assert list(by) == [Resource.PRODUCTS, Resource.CUSTOMERS, Resource.ORDERS]
    assert by[Resource.PRODUCTS] | {"pages": 0} == {
        "fetched": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "pages": 0,
        "skipped_ids": [],
        "error": None,
    }
    assert (by[Resource.CUSTOMERS]["fetched"], by[Resource.CUSTOMERS]["created"]) == (3, 3)
    assert (by[Resource.ORDERS]["fetched"], by[Resource.ORDERS]["created"], by[Resource.ORDERS]["skipped"]) == (8, 8, 0)
    totals = stored_totals(engine, woo.id)
    assert {k: v[0] for k, v in totals.items()} == PLATFORM_TOTALS
    assert totals["729"][1] == "paid" and totals["730"][1] == "refunded" and totals["733"][1] == "pending"
    before = counts(engine, woo.id)
    assert before == {"contacts": 4, "events": 3 + 3 + 8, "orders": 8, "products": 3}  # 3 accounts + 1 guest

    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        again = run_sync(engine, woo, connector(woo), clock=lambda: NOW + timedelta(minutes=5))
        first_orders_call = next(params_of(c) for c in mock.calls if "/orders" in c.request.url)
    assert first_orders_call["modified_after"] == "2026-11-23T09:04:59"  # resumes from the saved cursor
    for stats in again.resources.values():
        assert (stats.created, stats.updated, stats.skipped) == (0, 0, 0)
    assert counts(engine, woo.id) == before
    assert stored_totals(engine, woo.id) == totals


def test_a_changed_order_is_updated_and_counted_as_such(engine, woo):
    shop = fixture_shop()
    with responses.RequestsMock() as mock:
        route_shop(mock, shop)
        run_sync(engine, woo, connector(woo), clock=clock)
        order = next(r for r in shop.collections["orders"].records if r["id"] == 727)
        order.update(status="completed", date_modified_gmt="2026-11-23T10:30:00", date_modified="2026-11-23T11:30:00")
        report = run_sync(
            engine, woo, connector(woo), resources=[Resource.ORDERS], clock=lambda: NOW + timedelta(minutes=5)
        )
    stats = report.resources[Resource.ORDERS]
    # 727 changed; 735 and 736, at the cursor's second, are read again and change nothing
    assert (stats.fetched, stats.created, stats.updated, stats.unchanged) == (3, 0, 1, 2)
    assert stored_totals(engine, woo.id)["727"] == (Decimal("56.81"), "completed")


class Boom(RuntimeError):
    pass


def interrupted(real, at_page):
    """A connector whose fetch dies on page ``at_page`` of the orders (like a killed process)."""

    class Interrupted:
        platform = real.platform

        def resources(self):
            return real.resources()

        def cursor_since(self, resource, since):
            return real.cursor_since(resource, since)

        def fetch(self, resource, cursor, now):
            for number, page in enumerate(real.fetch(resource, cursor, now), start=1):
                if resource is Resource.ORDERS and number == at_page:
                    raise Boom("killed")
                yield page

    return Interrupted()


def test_an_interrupted_sync_resumes_without_loss_or_duplicates(engine, woo):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        with pytest.raises(Boom):
            run_sync(engine, woo, interrupted(connector(woo, page_size=2), at_page=4), clock=clock)
    assert sorted(stored_totals(engine, woo.id)) == ["727", "728", "729", "730"]
    with engine.connect() as conn:
        cursor = json.loads(get_cursor(conn, woo.id, Resource.ORDERS))
        lock = conn.execute(select(sync_locks).where(sync_locks.c.tenant_id == woo.id)).one()
    assert cursor == {"modified": "2026-11-22T08:00:00Z"}
    assert lock.owner is None and lock.outcome == "failed" and "Boom" in lock.error

    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, connector(woo, page_size=2), clock=clock)
        orders_calls = [params_of(c) for c in mock.calls if "/orders" in c.request.url]
    assert orders_calls[0]["modified_after"] == "2026-11-22T07:59:59" and "exclude" not in orders_calls[0]
    resumed = report.resources[Resource.ORDERS]
    # 730, at the cursor's second, is read again (unchanged); the 4 that follow are created
    assert (resumed.fetched, resumed.created, resumed.unchanged) == (5, 4, 1)
    assert {k: v[0] for k, v in stored_totals(engine, woo.id).items()} == PLATFORM_TOTALS
    with engine.connect() as conn:
        order_events = conn.execute(
            select(func.count()).where(
                events.c.tenant_id == woo.id, events.c.name.in_(["order_placed", "order_updated"])
            )
        ).scalar_one()
    assert order_events == 8


def test_a_second_sync_of_the_same_tenant_is_refused_while_one_runs(engine, woo):
    claim_lease(engine, woo.id, woo.name, "other-host:42:abc", NOW)
    with pytest.raises(SyncLockedError, match="tenant shop is already being synced") as info:
        run_sync(engine, woo, connector(woo), clock=clock)
    assert "\n" not in str(info.value)
    with engine.connect() as conn:
        assert (
            conn.execute(select(sync_locks.c.owner).where(sync_locks.c.tenant_id == woo.id)).scalar()
            == "other-host:42:abc"
        )


def test_the_lease_of_a_crashed_sync_expires(engine, woo):
    claim_lease(engine, woo.id, woo.name, "crashed:1:dead", NOW - timedelta(hours=1))
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, connector(woo), clock=clock)
    assert report.ok and report.resources[Resource.ORDERS].created == 8


def test_a_sync_that_lost_its_lease_stores_nothing_more(engine, woo):
    def steal_after_the_first_page(resource, stats, done):
        # the connector's pages are fetched ahead of the store (connectors.prefetch): the lease is stolen once
        # the first page is stored, whatever page the connector is reading then
        if stats.pages == 1 and not done:
            with engine.begin() as conn:
                conn.execute(update(sync_locks).where(sync_locks.c.tenant_id == woo.id).values(owner="thief"))

    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        with pytest.raises(SyncLockedError, match="lost its lease"):
            run_sync(
                engine,
                woo,
                connector(woo, page_size=2),
                resources=[Resource.ORDERS],
                clock=clock,
                progress=steal_after_the_first_page,
            )
    assert sorted(stored_totals(engine, woo.id)) == ["727", "728"]


def test_full_ignores_cursors_and_since_starts_from_a_time(engine, woo):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], clock=clock)
        before = len(mock.calls)
        full = run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], full=True, clock=clock)
        assert "modified_after" not in params_of(mock.calls[before])
        since = run_sync(
            engine, woo, connector(woo), resources=[Resource.ORDERS], since=NOW - timedelta(hours=3), clock=clock
        )
        assert params_of(mock.calls[-1])["modified_after"] == "2026-11-23T08:59:59"
    assert (full.resources[Resource.ORDERS].fetched, full.resources[Resource.ORDERS].unchanged) == (8, 8)
    assert (since.resources[Resource.ORDERS].fetched, since.resources[Resource.ORDERS].unchanged) == (2, 2)  # 735, 736


def test_malformed_records_are_counted_and_the_rest_is_stored(engine, woo, caplog):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop(orders=woo_fixture("orders_malformed", decimal=False)))
        report = run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], clock=clock)
    stats = report.resources[Resource.ORDERS]
    assert (stats.fetched, stats.created, stats.skipped, stats.skipped_ids) == (4, 2, 2, ["999", "728"])
    assert report.ok
    assert "orders 728 skipped" in caplog.text and "guest.buyer" not in caplog.text.lower()


def test_an_event_the_store_refuses_is_skipped_and_the_page_kept(engine, woo, monkeypatch):
    real_ingest = sync_module.ingest_page

    def picky(conn, tenant, events, now, **kwargs):
        if any(event.properties.get("order_id") == "729" for event in events):
            raise ValueError("a value the store refuses")
        return real_ingest(conn, tenant, events, now, **kwargs)

    monkeypatch.setattr(sync_module, "ingest_page", picky)
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], clock=clock)
    stats = report.resources[Resource.ORDERS]
    assert (stats.created, stats.skipped) == (7, 1) and stats.skipped_ids[0].startswith("woocommerce:orders:729:")
    assert "729" not in stored_totals(engine, woo.id)
    with engine.connect() as conn:
        assert json.loads(get_cursor(conn, woo.id, Resource.ORDERS)) == {"modified": "2026-11-23T09:05:00Z"}


def test_a_database_outage_is_raised_not_counted_as_skips(engine, woo, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(sync_module, "ingest_page", down)
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        with pytest.raises(OperationalError):
            run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], clock=clock)
    with engine.connect() as conn:
        assert get_cursor(conn, woo.id, Resource.ORDERS) is None


def test_refused_keys_stop_the_sync_and_are_recorded(engine, woo):
    with responses.RequestsMock() as mock:
        mock.get(f"{SHOP_URL}/wp-json/wc/v3/products", status=401, json={"code": "woocommerce_rest_cannot_view"})
        with pytest.raises(ConnectorAuthError, match="tenant shop"):
            run_sync(engine, woo, connector(woo), clock=clock)
    with engine.connect() as conn:
        lock = conn.execute(select(sync_locks).where(sync_locks.c.tenant_id == woo.id)).one()
    assert lock.owner is None and lock.outcome == "auth_failed"


def test_a_shop_error_stops_one_resource_and_the_others_go_on(engine, woo):
    shop = fixture_shop()
    with responses.RequestsMock() as mock:
        mock.get(
            f"{SHOP_URL}/wp-json/wc/v3/products",
            status=400,
            json={"code": "rest_invalid_param", "message": "Invalid parameter(s): orderby"},
        )
        route_shop(mock, shop)
        progress = []
        report = run_sync(
            engine, woo, connector(woo), clock=clock, progress=lambda r, s, done: progress.append((r, done))
        )
    assert not report.ok
    assert (
        "HTTP 400" in report.resources[Resource.PRODUCTS].error
        and "orderby" in report.resources[Resource.PRODUCTS].error
    )
    assert report.resources[Resource.ORDERS].created == 8
    assert (Resource.PRODUCTS, True) in progress and progress[-1] == (Resource.ORDERS, True)


def test_states_already_stored_are_recognised_without_ingesting_them_again(engine, woo, monkeypatch):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], clock=clock)

        def must_not_run(*args, **kwargs):
            raise AssertionError("a known event went through ingest again")

        monkeypatch.setattr(sync_module, "ingest_page", must_not_run)
        report = run_sync(engine, woo, connector(woo), resources=[Resource.ORDERS], full=True, clock=clock)
    stats = report.resources[Resource.ORDERS]
    assert (stats.fetched, stats.unchanged, stats.created, stats.skipped) == (8, 8, 0, 0)
