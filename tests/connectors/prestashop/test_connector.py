"""The PrestaShop connector's fetch on the fake shop: pages, cursors, lookups, open carts, skips."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import Page, Resource
from connectors.prestashop.connector import PrestaShopConnector
from core.model import Channel
from tests.connectors.prestashop.fakeshop import FakePrestaShop, load_fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
Build = Callable[..., PrestaShopConnector]


def ids(pages: list[Page], key: str) -> list[str]:
    return [e.properties[key] for page in pages for e in page.events]


def test_orders_page_by_page_until_a_short_page_with_ties_on_one_second(
    shop: FakePrestaShop, make_connector: Build
) -> None:
    pages = list(make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW))
    # Orders 4, 5 and 6 share date_upd 2026-11-19 15:30:00: each is read once; 5 is skipped.
    assert ids(pages, "order_id") == ["2", "1", "3", "4", "6", "7", "8"]
    assert sum(page.fetched for page in pages) == 8
    assert [(s.record_id, s.reason) for p in pages for s in p.skipped] == [("5", "unknown currency id 9")]
    assert len(pages[-1].events) == 0 and pages[-1].fetched == 0  # the short page that ends it
    limits = [params["limit"] for params in shop.calls_to("orders") if "limit" in params]
    assert limits[0] == "0,2" and all(limit.endswith(",2") for limit in limits)


def test_statuses_follow_the_shop_order_states(make_connector: Build) -> None:
    pages = list(make_connector().fetch(Resource.ORDERS, None, NOW))
    statuses = {e.properties["order_id"]: e.properties["status"] for p in pages for e in p.events}
    assert statuses == {
        "1": "completed",
        "2": "paid",
        "3": "cancelled",
        "4": "refunded",
        "6": "failed",
        "7": "completed",
        "8": "paid",
    }


def test_reference_data_is_read_once_per_run(shop: FakePrestaShop, make_connector: Build) -> None:
    connector = make_connector(page_size=2)
    for resource in connector.resources():
        list(connector.fetch(resource, None, NOW))
    for resource in ("countries", "currencies", "order_states", "languages", "groups"):
        assert len(shop.calls_to(resource)) == 1, resource
    # products referred to by order rows are read by id once, and not at all when the product sync saw them
    assert [c["filter[id]"] for c in shop.calls_to("products") if "filter[id]" in c] == ["[99]"]


def test_an_interrupted_fetch_resumes_from_its_cursor_without_loss_or_repeat(make_connector: Build) -> None:
    pages = list(make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW))
    every = ids(pages, "order_id")
    dates = {str(o["id"]): o["date_upd"] for o in load_fixture("orders.json")["orders"]}
    for cut in range(1, len(pages)):
        done = [e.properties["order_id"] for p in pages[:cut] for e in p.events]
        cursor = pages[cut - 1].cursor
        rest = ids(list(make_connector(page_size=2).fetch(Resource.ORDERS, cursor, NOW)), "order_id")
        # nothing lost, in order; what is read again is only the cursor's own second (issue 11)
        again = [i for i in rest if i in done]
        assert done + [i for i in rest if i not in done] == every, cut
        second = json.loads(cursor)["date_upd"]
        assert all(dates[i] == second for i in again), cut


def test_nothing_changed_is_an_empty_page(shop: FakePrestaShop, make_connector: Build) -> None:
    connector = make_connector()
    cursor = connector.cursor_since(Resource.ORDERS, NOW - timedelta(minutes=5))
    pages = list(connector.fetch(Resource.ORDERS, cursor, NOW))
    assert [(p.fetched, p.events) for p in pages] == [(0, [])]
    assert shop.calls_to("orders")[0]["filter[date_upd]"] == "[2026-11-23 12:55:00,2026-11-23 13:00:00]"


def test_records_changed_after_now_wait_for_the_next_sync(make_connector: Build) -> None:
    earlier = datetime(2026, 11, 19, 14, 30, tzinfo=UTC)  # 15:30 in Paris: orders 4, 5, 6 are at that second
    pages = list(make_connector().fetch(Resource.ORDERS, None, earlier))
    assert ids(pages, "order_id") == ["2", "1", "3", "4", "6"]
    later = list(make_connector().fetch(Resource.ORDERS, pages[-1].cursor, NOW))
    assert ids(later, "order_id") == ["4", "6", "7", "8"]  # the cursor's second (4, 6) again, then 7 and 8


def test_customers_with_addresses_read_in_bulk(shop: FakePrestaShop, make_connector: Build) -> None:
    pages = list(make_connector().fetch(Resource.CUSTOMERS, None, NOW))
    events = [e for p in pages for e in p.events]
    assert len(shop.calls_to("addresses")) == 1  # one page, one bulk lookup
    assert shop.calls_to("addresses")[0]["filter[id_customer]"] == "[1|2|4|5|7|8|9]"
    marie = next(e for e in events if e.contact.external_id == "1" and e.contact.first_name)
    assert (marie.contact.city, marie.contact.phone) == ("Lyon", "+33612345678")
    assert [(s.record_id, s.reason) for p in pages for s in p.skipped] == [("8", "contact.email: not an email address")]
    consents = [e.contact.consent for e in events if e.contact.consent]
    assert consents.count({Channel.EMAIL: True}) == 3 and consents.count({Channel.EMAIL: False}) == 2


def test_open_carts_only(shop: FakePrestaShop, make_connector: Build) -> None:
    pages = list(make_connector().fetch(Resource.CARTS, None, NOW))
    # 3 and 13 became orders, 9 is anonymous, 11 is older than the first sync's 30 days, 5 too.
    assert sorted(ids(pages, "cart_id"), key=int) == ["8", "10", "12"]
    assert shop.calls_to("orders")[0]["filter[id_cart]"] == "[3|8|9|10|12|13]"
    assert shop.calls_to("carts")[0]["filter[date_upd]"].startswith("[2026-10-24 14:00:00,")  # summer time still


def test_carts_since_an_earlier_date_include_old_open_carts(make_connector: Build) -> None:
    connector = make_connector()
    cursor = connector.cursor_since(Resource.CARTS, datetime(2025, 1, 1, tzinfo=UTC))
    assert sorted(ids(list(connector.fetch(Resource.CARTS, cursor, NOW)), "cart_id"), key=int) == [
        "8",
        "10",
        "11",
        "12",
    ]


def test_products_with_stock_brands_and_categories(shop: FakePrestaShop, make_connector: Build) -> None:
    pages = list(make_connector().fetch(Resource.PRODUCTS, None, NOW))
    products = {e.properties["product_id"]: e.properties for p in pages for e in p.events}
    assert {k: v["in_stock"] for k, v in products.items()} == {"1": True, "2": True, "3": False, "6": False}
    assert products["2"]["brand"] == "Graphic Corner"
    assert products["1"]["categories"] == ["Hommes", "Vêtements"]
    assert [(s.record_id, s.reason) for p in pages for s in p.skipped] == [("5", "price: not an amount")]
    assert shop.calls_to("manufacturers")[0]["filter[id]"] == "[2]"  # product 1 carries its manufacturer_name
    assert shop.calls_to("stock_availables")[0]["filter[id_product_attribute]"] == "[0]"


def test_a_record_that_is_not_an_object_is_skipped_not_fatal(make_connector: Build) -> None:
    connector = make_connector()
    changed = connector.client.changed

    def with_garbage(*args: Any, **kwargs: Any) -> list[Any]:
        return [*changed(*args, **kwargs), "garbage"]

    connector.client.changed = with_garbage  # type: ignore[method-assign]
    pages = list(connector.fetch(Resource.PRODUCTS, None, NOW))
    assert len([e for p in pages for e in p.events]) == 4
    assert sorted(s.reason for p in pages for s in p.skipped) == ["not a JSON object", "price: not an amount"]


def test_records_that_leave_out_zero_fields(shop: FakePrestaShop, make_connector: Build) -> None:
    # As PrestaShop 8.1 answers a single cart with no customer: no id_customer key at all.
    shop.data["carts"].append({"id": 20, "id_currency": 1, "id_guest": 31, "date_upd": "2026-11-22 21:00:00"})
    shop.data["products"].append({"id": 21, "price": "5.000000", "name": "Pin's", "date_upd": "2026-11-22 21:00:00"})
    assert "20" not in ids(list(make_connector().fetch(Resource.CARTS, None, NOW)), "cart_id")
    pages = list(make_connector().fetch(Resource.PRODUCTS, None, NOW))
    pin = next(e.properties for p in pages for e in p.events if e.properties["product_id"] == "21")
    assert (pin["name"], pin["price"], pin["in_stock"], pin["categories"]) == ("Pin's", "5.00", False, [])
