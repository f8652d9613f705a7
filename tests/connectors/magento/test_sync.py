"""A Magento shop synced into the store (SQLite and PostgreSQL): through ``run_sync`` and ``relance sync``."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from connectors.base import Resource
from connectors.cursors import get_cursor
from connectors.magento.connector import from_tenant
from connectors.sync import run_sync
from core.store.export import iter_carts, iter_contacts, iter_orders, iter_products
from core.store.schema import contacts, events, orders
from core.store.tenants import Tenant
from relance.cli import cli
from tests.conftest import NOW, make_tenant
from tests.connectors.magento.fakeshop import CREDENTIALS, SHOP_URL, FakeMagento, fixture_items

#: The orders as Magento totals them: entity_id -> (grand_total, order currency).
PLATFORM_ORDERS = {
    str(o["entity_id"]): (Decimal(str(o["grand_total"])), o["order_currency_code"])
    for o in fixture_items("orders.json")
}


def clock():
    return NOW


@pytest.fixture
def mage(engine: Engine) -> Tenant:
    return make_tenant(engine, "mage", "magento", url=SHOP_URL, credentials=CREDENTIALS, currency="CHF")


@pytest.fixture
def shop() -> Iterator[FakeMagento]:
    fake = FakeMagento.from_fixtures()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.register(mock)
        yield fake


def sync(engine, tenant, **options):
    connector = from_tenant(tenant.config, sleep=lambda s: None, page_size=options.pop("page_size", 2))
    return run_sync(engine, tenant, connector, clock=clock, **options)


def table(report):
    return {r.value: (s.fetched, s.created, s.updated, s.unchanged, s.skipped) for r, s in report.resources.items()}


def count(engine, tbl, tenant):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tbl).where(tbl.c.tenant_id == tenant.id)).scalar_one()


def exported(engine, tenant, func_):
    with engine.connect() as conn:
        return list(func_(conn, tenant.id))


def test_a_full_sync_fills_the_store_and_a_second_changes_nothing(engine, mage, shop):
    report = sync(engine, mage)
    assert report.ok
    assert table(report) == {
        "products": (6, 6, 0, 0, 0),
        "customers": (3, 3, 0, 0, 0),
        "carts": (4, 3, 0, 1, 0),  # 603 has no email yet: fetched, not an open cart (unchanged)
        "orders": (6, 6, 0, 0, 0),
    }
    orders_out = exported(engine, mage, iter_orders)
    assert {o["external_id"]: (Decimal(o["total"]), o["currency"]) for o in orders_out} == PLATFORM_ORDERS
    by_id = {o["external_id"]: o for o in orders_out}
    assert by_id["1002"]["contact_email"] == "marie.dupont@example.fr"  # the guest
    assert [(i["product_id"], i["variant_id"], i["quantity"]) for i in by_id["1001"]["items"]] == [
        ("1", "3", 1),
        ("2", None, 2),
    ]
    assert {o["external_id"]: o["status"] for o in orders_out} == {
        "1001": "completed",
        "1002": "paid",
        "1003": "refunded",
        "1004": "completed",
        "1005": "cancelled",
        "1006": "pending",
    }

    people = {c["email"]: c for c in exported(engine, mage, iter_contacts)}
    assert len(people) == 7  # 3 customers, 2 guests, 1 customer known only from an order, 1 cart guest
    zoe = people["zoe.angstrom@example.ch"]
    assert zoe["external_ids"] == {"magento": "7"} and zoe["birthday"] == "1990-02-28"
    assert zoe["consent"]["email"] is True and zoe["orders_count"] == 2
    assert people["jl.obrien@example.com"]["consent"]["email"] is False

    products_out = {p["product_id"]: p for p in exported(engine, mage, iter_products)}
    assert products_out["1"]["categories"] == ["Chemises", "Été & Plage"]
    assert products_out["1"]["brand"] == "Maison Lumière"
    carts_out = {c["cart_id"]: c for c in exported(engine, mage, iter_carts)}
    assert set(carts_out) == {"601", "602", "604"}
    assert carts_out["601"]["total"] == "147.90" and carts_out["604"]["items"] == []

    stored_events = count(engine, events, mage)
    again = sync(engine, mage)
    # nothing changed since the cursors: only the records of each cursor's second are read again
    assert all(stats.fetched == stats.unchanged for stats in again.resources.values())
    full = sync(engine, mage, full=True)
    assert full.ok
    assert all(s.created == s.updated == s.skipped == 0 for s in full.resources.values())
    assert table(full)["orders"] == (6, 0, 0, 6, 0)
    assert count(engine, events, mage) == stored_events
    assert count(engine, contacts, mage) == 7


def test_an_interrupted_sync_resumes_without_losing_or_repeating(engine, mage, shop):
    shop.fail_after["orders"] = 1  # the shop falls over after the first page of orders
    first = sync(engine, mage, resources=[Resource.ORDERS])
    assert not first.ok
    assert "still failing after 5 tries" in first.resources[Resource.ORDERS].error
    assert first.resources[Resource.ORDERS].created == 2
    with engine.connect() as conn:
        assert json.loads(get_cursor(conn, mage.id, Resource.ORDERS)) == {
            "updated_at": "2026-11-15T09:20:45Z",
            "id": 1003,
        }

    shop.fail_after.clear()
    calls_before = len(shop.calls("orders"))
    second = sync(engine, mage, resources=[Resource.ORDERS])
    # of the two stored orders only the one at the cursor's second is read again (unchanged)
    assert second.ok and table(second)["orders"] == (5, 4, 0, 1, 0)
    first_call = shop.calls("orders")[calls_before]
    assert first_call["searchCriteria[filter_groups][2][filters][1][value]"] == "0"  # the cursor's second again
    assert count(engine, orders, mage) == 6
    assert {o["external_id"] for o in exported(engine, mage, iter_orders)} == set(PLATFORM_ORDERS)


def test_a_changed_order_is_updated_and_its_quote_closed(engine, mage, shop):
    sync(engine, mage)
    # The customer checks out quote 601: Magento deactivates it and places an order for it.
    quote = next(q for q in shop.data["carts/search"] if q["id"] == 601)
    quote.update(is_active=False, reserved_order_id="000000107", updated_at="2026-11-23 09:00:00")
    quote.pop("items")
    placed = copy.deepcopy(next(o for o in shop.data["orders"] if o["entity_id"] == 1004))
    placed.update(
        entity_id=1007,
        increment_id="000000107",
        quote_id=601,
        state="processing",
        status="processing",
        created_at="2026-11-23 09:00:00",
        updated_at="2026-11-23 09:00:00",
    )
    placed.pop("total_refunded")
    shop.data["orders"].append(placed)
    shipped = next(o for o in shop.data["orders"] if o["entity_id"] == 1002)
    shipped.update(state="complete", status="complete", updated_at="2026-11-23 10:00:00")
    report = sync(engine, mage)
    assert table(report)["orders"] == (3, 1, 1, 1, 0)  # and the cursor's second again, unchanged
    # inactive quotes are not asked for; the cart at the cursor's second is read again, unchanged
    assert table(report)["carts"] == (1, 0, 0, 1, 0)
    statuses = {o["external_id"]: o["status"] for o in exported(engine, mage, iter_orders)}
    assert statuses["1002"] == "completed" and statuses["1007"] == "paid"
    carts_out = {c["cart_id"]: c for c in exported(engine, mage, iter_carts)}
    assert carts_out["601"]["converted"] is True and carts_out["602"]["converted"] is False


def test_a_malformed_order_is_skipped_and_counted(engine, mage, shop):
    broken = copy.deepcopy(shop.data["orders"][0])
    broken.update(entity_id=1500, grand_total="n/a", updated_at="2026-11-16 00:00:00")
    shop.data["orders"].append(broken)
    report = sync(engine, mage, resources=[Resource.ORDERS])
    stats = report.resources[Resource.ORDERS]
    assert report.ok and (stats.fetched, stats.created, stats.skipped) == (7, 6, 1)
    assert stats.skipped_ids == ["1500"]


def test_relance_sync_then_export_orders(cli_env, engine, shop):
    make_tenant(engine, "mage", "magento", url=SHOP_URL, credentials=CREDENTIALS, sync={"page_size": 2})
    runner = CliRunner()
    result = runner.invoke(cli, ["sync", "--tenant", "mage"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["resource", "fetched", "created", "updated", "unchanged", "skipped"]
    assert [line.split()[0] for line in lines[1:5]] == ["products", "customers", "carts", "orders"]
    assert lines[4].split() == ["orders", "6", "6", "0", "0", "0"]
    assert "syncing tenant mage from https://magento.example.com (magento)" in result.stderr

    out = runner.invoke(cli, ["export", "orders", "--tenant", "mage"], catch_exceptions=False)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["external_id"]: (Decimal(r["total"]), r["currency"]) for r in rows} == PLATFORM_ORDERS

    again = runner.invoke(cli, ["sync", "--tenant", "mage"], catch_exceptions=False)
    assert again.exit_code == 0
    total = again.stdout.splitlines()[5].split()[1:]  # nothing new: only each cursor's second read again
    assert total[1:3] == ["0", "0"] and total[0] == total[3] and total[4] == "0"


def test_relance_sync_with_a_refused_token_says_what_to_check(cli_env, engine, shop):
    make_tenant(engine, "mage", "magento", url=SHOP_URL, credentials={"access_token": "revoked"})
    result = CliRunner().invoke(cli, ["sync", "--tenant", "mage"])
    assert result.exit_code != 0
    message = result.stderr.strip().splitlines()[-1]
    assert "tenant mage: the shop refused our credentials (HTTP 401" in message
    assert "credentials.access_token" in message and "Traceback" not in result.output
    assert "revoked" not in result.output
