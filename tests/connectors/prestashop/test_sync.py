"""A PrestaShop shop synced into the store: through ``run_sync`` and through ``relance sync``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import responses
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from connectors.base import Page, Resource
from connectors.prestashop.connector import from_tenant
from connectors.sync import SyncReport, run_sync
from core.store.export import iter_carts, iter_contacts, iter_orders, iter_products
from core.store.schema import contacts, events, sync_cursors
from core.store.tenants import Tenant
from relance.cli import cli
from tests.conftest import make_tenant
from tests.connectors.prestashop.conftest import SHOP_URL
from tests.connectors.prestashop.fakeshop import KEY, FakePrestaShop, load_fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
#: The orders of the fixture shop as the shop totals them (order 5 has an unknown currency: skipped).
PLATFORM_ORDERS = {
    str(o["id"]): (Decimal(o["total_paid_tax_incl"]), o["id_currency"])
    for o in load_fixture("orders.json")["orders"]
    if o["id"] != 5
}


@pytest.fixture
def ps_tenant(engine: Engine) -> Tenant:
    return make_tenant(
        engine, "boutique", "prestashop", url=SHOP_URL, credentials={"api_key": KEY}, sync={"page_size": 3}
    )


def sync(engine: Engine, tenant: Tenant, **options: Any) -> SyncReport:
    connector = from_tenant(tenant.config, sleep=lambda s: None)
    return run_sync(engine, tenant, connector, clock=lambda: NOW, **options)


def counts(report: SyncReport) -> dict[str, tuple[int, int, int, int, int]]:
    return {
        resource.value: (s.fetched, s.created, s.updated, s.unchanged, s.skipped)
        for resource, s in report.resources.items()
    }


def exported(engine: Engine, tenant: Tenant, rows: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list(rows(conn, tenant.id))


def test_full_sync_fills_the_store_and_a_second_changes_nothing(
    engine: Engine, ps_tenant: Tenant, shop: FakePrestaShop
) -> None:
    report = sync(engine, ps_tenant)
    assert report.ok
    first = counts(report)
    assert list(first) == ["customers", "products", "orders", "carts"]
    assert first["products"] == (5, 4, 0, 0, 1)
    assert first["orders"] == (8, 7, 0, 0, 1)
    assert first["carts"] == (6, 3, 0, 3, 0)  # 6 changed carts, 3 of them open carts of known customers
    # 7 customers, 1 skipped, each counted once (issue 11: newsletter choices are events of their own,
    # which used to be counted too: 7 fetched, 5 + 2 + 1 + 1 counted); the second guest checkout of
    # one e-mail is the same person, updated.
    assert first["customers"] == (7, 5, 1, 0, 1)

    orders = exported(engine, ps_tenant, iter_orders)
    currencies = {1: "EUR", 2: "CHF"}
    assert {o["external_id"]: (Decimal(o["total"]), o["currency"]) for o in orders} == {
        k: (total, currencies[c]) for k, (total, c) in PLATFORM_ORDERS.items()
    }
    by_id = {o["external_id"]: o for o in orders}
    assert by_id["1"]["status"] == "completed" and by_id["1"]["number"] == "XKBKNABJK"
    assert by_id["2"]["contact_email"] == by_id["6"]["contact_email"] == "zoe.angstrom@example.be"
    assert [(i["product_id"], i["variant_id"], i["quantity"], i["unit_price"]) for i in by_id["1"]["items"]] == [
        ("1", "1", 1, "28.68"),
        ("2", None, 2, "14.28"),
    ]

    people = {c["email"]: c for c in exported(engine, ps_tenant, lambda conn, t: iter_contacts(conn, t, "EUR"))}
    assert len(people) == 5  # the two guest checkouts of one e-mail are one person
    assert people["zoe.angstrom@example.be"]["consent"]["email"] is True
    assert people["jean.martin@example.fr"]["consent"]["email"] is False  # deleted in the shop
    assert people["lucas.bernard@example.ch"]["consent"]["email"] is False
    assert people["marie.dupont@example.fr"]["external_ids"] == {"prestashop": "1"}
    assert people["marie.dupont@example.fr"]["phone"] == "+33612345678"

    carts = {c["cart_id"]: c for c in exported(engine, ps_tenant, iter_carts)}
    assert sorted(carts) == ["10", "12", "8"] and carts["8"]["total"] == "59.70"
    products = {p["product_id"]: p for p in exported(engine, ps_tenant, iter_products)}
    assert products["1"]["categories"] == ["Hommes", "Vêtements"] and products["3"]["in_stock"] is False

    with engine.connect() as conn:
        stored_events = conn.execute(select(func.count()).select_from(events)).scalar_one()
        stored_contacts = conn.execute(select(func.count()).select_from(contacts)).scalar_one()
    again = sync(engine, ps_tenant)
    assert all(c[1:3] == (0, 0) and c[4] == 0 for c in counts(again).values()), counts(again)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == stored_events
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == stored_contacts
    assert exported(engine, ps_tenant, iter_orders) == orders

    full = counts(sync(engine, ps_tenant, full=True))
    assert all(created == updated == 0 for _, created, updated, _, _ in full.values()), full


def test_an_order_status_change_in_the_shop_updates_the_order(
    engine: Engine, ps_tenant: Tenant, shop: FakePrestaShop
) -> None:
    sync(engine, ps_tenant, resources=[Resource.ORDERS])
    order = next(o for o in shop.data["orders"] if o["id"] == 8)
    order.update(current_state=5, date_upd="2026-11-23 09:00:00")  # refunded this morning
    report = sync(engine, ps_tenant, resources=[Resource.ORDERS])
    assert counts(report)["orders"] == (1, 0, 1, 0, 0)
    statuses = {o["external_id"]: o["status"] for o in exported(engine, ps_tenant, iter_orders)}
    assert statuses["8"] == "refunded"


class Crash(Exception):
    pass


def test_an_interrupted_sync_resumes_without_losing_or_repeating(
    engine: Engine, ps_tenant: Tenant, shop: FakePrestaShop
) -> None:
    connector = from_tenant(ps_tenant.config, sleep=lambda s: None)
    fetch = connector.fetch

    def dies_after_two_pages(resource: Resource, cursor: str | None, now: datetime) -> Iterator[Page]:
        for number, page in enumerate(fetch(resource, cursor, now)):
            if number == 2:
                raise Crash("killed")
            yield page

    connector.fetch = dies_after_two_pages  # type: ignore[method-assign]
    with pytest.raises(Crash):
        run_sync(engine, ps_tenant, connector, resources=[Resource.ORDERS], clock=lambda: NOW)
    with engine.connect() as conn:
        cursor = conn.execute(select(sync_cursors.c.cursor).where(sync_cursors.c.tenant_id == ps_tenant.id)).scalar()
    assert json.loads(cursor) == {"date_upd": "2026-11-19 15:30:00", "id": 5, "seen": 2}  # pages [2, 1, 3], [4, 5]
    assert len(exported(engine, ps_tenant, iter_orders)) == 4  # 5 was skipped

    calls_before = len(shop.calls_to("orders"))
    report = sync(engine, ps_tenant, resources=[Resource.ORDERS])
    resumed = shop.calls_to("orders")[calls_before]
    assert resumed["filter[date_upd]"].startswith("[2026-11-19 15:30:00,")
    # 6, 7 and 8 created; 4 (the cursor's second) read again, unchanged; 5 skipped again
    assert counts(report)["orders"] == (5, 3, 0, 1, 1)
    assert sorted(o["external_id"] for o in exported(engine, ps_tenant, iter_orders)) == sorted(PLATFORM_ORDERS)


def test_wrong_key_stops_the_sync_and_keeps_the_cursors(engine: Engine, shop: FakePrestaShop) -> None:
    tenant = make_tenant(engine, "boutique", "prestashop", url=SHOP_URL, credentials={"api_key": "X" * 32})
    from connectors.errors import ConnectorAuthError

    with pytest.raises(ConnectorAuthError, match="tenant boutique"):
        sync(engine, tenant)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_cursors)).scalar_one() == 0


def test_relance_sync_then_export_orders(cli_env: dict[str, str], engine: Engine) -> None:
    make_tenant(engine, "boutique", "prestashop", url=SHOP_URL, credentials={"api_key": KEY}, sync={"page_size": 4})
    runner = CliRunner()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakePrestaShop(SHOP_URL).install(mock)
        result = runner.invoke(cli, ["sync", "--tenant", "boutique"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:5]}
    assert rows["customers"][0] == "7" and rows["customers"][4] == "1"
    assert rows["products"] == ["5", "4", "0", "0", "1"]
    assert rows["orders"] == ["8", "7", "0", "0", "1"]
    assert "syncing tenant boutique from https://ps.example.com (prestashop)" in result.stderr
    assert "skipped ids" in result.stderr

    out = runner.invoke(cli, ["export", "orders", "--tenant", "boutique"], catch_exceptions=False).stdout
    totals = {o["external_id"]: Decimal(o["total"]) for o in map(json.loads, out.splitlines())}
    assert totals == {k: total for k, (total, _) in PLATFORM_ORDERS.items()}

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        FakePrestaShop(SHOP_URL).install(mock)
        again = runner.invoke(cli, ["sync", "--tenant", "boutique"], catch_exceptions=False)
    assert again.exit_code == 0
    total = again.stdout.splitlines()[5].split()
    assert total[0] == "total" and (total[2], total[3], total[5]) == ("0", "0", "0")
