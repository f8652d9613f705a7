"""Regression tests of issue 11 on answers recorded from the real shops (tests/fixtures/*/real/,
recorded by ``tests/live/record.py`` from WooCommerce 10.0.2 and PrestaShop 8.1.2)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import responses
from sqlalchemy import Engine, select

from connectors.base import Resource
from connectors.prestashop.connector import from_tenant as ps_connector
from connectors.sync import run_sync
from connectors.woocommerce.connector import from_tenant as woo_connector
from connectors.woocommerce.mapping import WooContext, map_order
from core.events import event_to_dict
from core.normalize import timestamp
from core.store.export import iter_contacts, iter_orders
from core.store.schema import carts, orders
from core.store.tenants import Tenant
from tests.conftest import FIXTURES, make_tenant
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, fixture_shop, route_shop
from tests.connectors.prestashop.fakeshop import KEY, RESOURCES, FakePrestaShop
from tests.flows.helpers import ONLY_CART, flow_tenant, identify, person, run, runs, sent

REAL = FIXTURES / "woocommerce" / "real"
PS_REAL = FIXTURES / "prestashop" / "real"
PS_URL = "https://ps.example.com"
#: After every recorded change (the shops were recorded on 2026-12-03).
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def real(name: str) -> Any:
    return json.loads((REAL / f"{name}.json").read_text(encoding="utf-8"))


def ps_real(name: str) -> Any:
    return json.loads((PS_REAL / f"{name}.json").read_text(encoding="utf-8"))


# --- 1. PrestaShop customers sync although 8.1.2 has no ``genders`` resource ----------------------------


@pytest.fixture
def real_presta() -> Any:
    fake = FakePrestaShop(PS_URL)
    fake.data = {name: ps_real(name)[name] for name in RESOURCES}
    assert "genders" not in fake.data  # answered 400 "Resource of type genders does not exists", as 8.1.2 does
    assert ps_real("answers")["genders"]["status"] == 400
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


def test_prestashop_customers_sync_with_consent_birthday_locale_and_gender(engine: Engine, real_presta: Any) -> None:
    tenant = make_tenant(engine, "presta", "prestashop", url=PS_URL, credentials={"api_key": KEY})
    report = run_sync(engine, tenant, ps_connector(tenant.config, sleep=lambda s: None), clock=lambda: NOW)
    stats = report.resources[Resource.CUSTOMERS]
    assert report.ok and stats.error is None
    assert (stats.fetched, stats.skipped) == (6, 0)
    assert stats.fetched == stats.created + stats.updated + stats.unchanged + stats.skipped
    assert not real_presta.calls_to("genders")
    with engine.connect() as conn:
        contacts = {c["email"]: c for c in iter_contacts(conn, tenant.id)}
    claire = contacts["claire.dubois@example.fr"]
    assert claire["consent"]["email"] is True  # subscribed to the newsletter in the shop
    assert claire["birthday"] == "1988-02-29" and claire["locale"] == "fr_FR"
    assert claire["attributes"]["gender"] == "female"
    assert contacts["bruno.lefevre@example.fr"]["attributes"]["gender"] == "male"
    assert "gender" not in contacts["guest.ps@example.com"]["attributes"]  # id_gender 0: none given


def test_prestashop_unit_prices_are_rounded_to_the_currency(engine: Engine, real_presta: Any) -> None:
    tenant = make_tenant(engine, "presta", "prestashop", url=PS_URL, credentials={"api_key": KEY})
    run_sync(engine, tenant, ps_connector(tenant.config, sleep=lambda s: None), clock=lambda: NOW)
    with engine.connect() as conn:
        by_id = {o["external_id"]: o for o in iter_orders(conn, tenant.id)}
    # the shop stores 22.944000 (19.12 + 20 % VAT) for a line it bills 22.94
    assert [i["unit_price"] for i in by_id["6"]["items"]] == ["22.94"]
    assert by_id["6"]["total"] == "45.89"


# --- 2. WooCommerce: a change to the last record read arrives with the next incremental sync -------------


def woo_tenant(engine: Engine) -> Tenant:
    return make_tenant(engine, "woo", url=SHOP_URL, credentials=CREDENTIALS, timezone="Europe/Paris")


def status_of(engine: Engine, tenant: Tenant, order_id: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(orders.c.status).where(orders.c.tenant_id == tenant.id, orders.c.external_id == order_id)
        ).scalar_one()


def test_a_change_to_the_last_read_order_arrives_on_the_next_incremental_sync(engine: Engine) -> None:
    records = real("orders")
    shop = fixture_shop(orders=records, customers=real("customers"), products=real("products"))
    tenant = woo_tenant(engine)
    with responses.RequestsMock() as mock:
        route_shop(mock, shop)
        first = run_sync(engine, tenant, woo_connector(tenant.config), resources=[Resource.ORDERS], clock=lambda: NOW)
        last = max(
            (r for r in shop.collections["orders"].records if r["status"] != "checkout-draft"),
            key=lambda r: (r["date_modified_gmt"], r["id"]),
        )
        assert status_of(engine, tenant, str(last["id"])) != "completed"
        changed = timestamp(last["date_modified_gmt"], UTC) + timedelta(minutes=3)
        last.update(status="completed", date_modified_gmt=changed.strftime("%Y-%m-%dT%H:%M:%S"))
        again = run_sync(
            engine, tenant, woo_connector(tenant.config), resources=[Resource.ORDERS], clock=lambda: NOW + timedelta(1)
        )
        assert all("exclude" not in call.request.url for call in mock.calls)
    stats = again.resources[Resource.ORDERS]
    assert stats.updated == 1 and stats.created == 0
    assert status_of(engine, tenant, str(last["id"])) == "completed"
    for report in (first, again):
        s = report.resources[Resource.ORDERS]
        assert s.fetched == s.created + s.updated + s.unchanged + s.skipped


def test_the_real_orders_sync_with_their_statuses_and_the_draft_as_a_cart(engine: Engine) -> None:
    records = real("orders")
    tenant = woo_tenant(engine)
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop(orders=records))
        report = run_sync(engine, tenant, woo_connector(tenant.config), resources=[Resource.ORDERS], clock=lambda: NOW)
    stats = report.resources[Resource.ORDERS]
    assert (stats.fetched, stats.created, stats.skipped) == (len(records), len(records), 0)
    shop_statuses = {str(r["id"]): r["status"] for r in records}
    with engine.connect() as conn:
        stored = {o["external_id"]: o["status"] for o in iter_orders(conn, tenant.id)}
        cart_ids = list(conn.execute(select(carts.c.external_id).where(carts.c.tenant_id == tenant.id)).scalars())
    expected = {
        "processing": "paid",
        "completed": "completed",
        "refunded": "refunded",
        "cancelled": "cancelled",
        "pending": "pending",
        "on-hold": "pending",
        "failed": "failed",
    }
    drafts = [i for i, s in shop_statuses.items() if s == "checkout-draft"]
    assert drafts and cart_ids == [f"order-draft-{i}" for i in drafts]
    assert stored == {i: expected[s] for i, s in shop_statuses.items() if s != "checkout-draft"}


# --- 3. A block-checkout draft starts (not ends) the abandoned-cart flow ------------------------------------


def draft_delivery() -> tuple[dict[str, str], dict[str, Any]]:
    recorded = real("delivery_order_checkout_draft")
    return recorded["headers"], json.loads(recorded["body"])


def test_the_real_checkout_draft_delivery_is_a_cart_not_an_order() -> None:
    headers, body = draft_delivery()
    assert headers["X-WC-Webhook-Topic"] == "order.updated" and body["status"] == "checkout-draft"
    event = event_to_dict(map_order(body, WooContext(store_url="http://127.0.0.1:8888")))
    assert event["event"] == "cart_updated"
    assert event["contact"]["email"] == "draft.visitor@example.com"
    props = event["properties"]
    assert props["cart_id"] == f"order-draft-{body['id']}" and props["total"] == "12.50"
    assert [(i["product_id"], i["name"], i["quantity"]) for i in props["items"]] == [("11", "Café Moka 250g", 1)]


def test_a_checkout_draft_starts_the_abandoned_cart_flow_and_the_order_it_becomes_ends_it(engine: Engine) -> None:
    _, body = draft_delivery()
    ctx = WooContext(store_url="http://127.0.0.1:8888")
    draft = map_order(body, ctx)
    tenant = flow_tenant(engine, ONLY_CART)
    known = identify(draft.timestamp - timedelta(minutes=5), person("draft.visitor@example.com"))
    result = run(engine, tenant, [known, draft])
    assert [(f, s) for f, s, _, _ in sent(result)] == [
        ("abandoned_cart", 1),
        ("abandoned_cart", 2),
        ("abandoned_cart", 3),
    ]
    assert [(r.state, r.end_reason) for r in runs(engine, tenant)] == [("done", None)]

    # the same draft, paid 20 minutes later: the cart is converted, nothing is sent
    other = flow_tenant(engine, ONLY_CART, name="other")
    placed = copy.deepcopy(body)
    paid_at = (draft.timestamp + timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M:%S")
    placed.update(status="processing", date_modified_gmt=paid_at, date_paid_gmt=paid_at)
    result = run(engine, other, [known, draft, map_order(placed, ctx)])
    assert sent(result) == []
    [(state, reason)] = [(r.state, r.end_reason) for r in runs(engine, other)]
    assert state == "exited" and reason in ("ordered", "converted")
    assert Decimal(event_to_dict(map_order(placed, ctx))["properties"]["total"]) == Decimal("12.50")
