"""The WooCommerce connector against a fake shop (fixtures behind ``responses``): keyset pages, ties,
changes during a sync, customers' scans, malformed records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import responses

from connectors.base import Resource
from connectors.woocommerce.connector import CustomerCursor, KeysetCursor, from_tenant
from core.errors import ConfigError
from core.sections import validate_tenant
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, WOO_CONFIG, fixture_shop, params_of, route_shop, woo_fixture

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CONFIG = WOO_CONFIG
ALL_ORDERS = [o["id"] for o in woo_fixture("orders")]


def connector(page_size: int = 100):
    return from_tenant(CONFIG, sleep=lambda s: None, page_size=page_size)


def order_ids(pages) -> list[str]:
    return [e.properties["order_id"] for page in pages for e in page.events]


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 100])
def test_orders_come_once_each_whatever_the_page_size(page_size):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector(page_size).fetch(Resource.ORDERS, None, NOW))
        calls = list(mock.calls)
    assert order_ids(pages) == [str(i) for i in ALL_ORDERS]
    first = params_of(calls[0])
    assert first["orderby"] == "modified" and first["order"] == "asc" and first["dates_are_gmt"] == "true"
    assert first["modified_before"] == "2026-11-23T12:00:00" and "modified_after" not in first
    assert first["per_page"] == str(page_size)
    assert sum(p.fetched for p in pages) == len(ALL_ORDERS)


def test_a_tie_split_by_a_page_boundary_is_not_lost_nor_repeated():
    # 735 and 736 share date_modified_gmt 2026-11-23T09:05:00; a page of 7 ends between them.
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector(7).fetch(Resource.ORDERS, None, NOW))
        second = params_of(mock.calls[1])
    assert [len(p.events) for p in pages] == [7, 1]
    assert json.loads(pages[0].cursor) == {"modified": "2026-11-23T09:05:00Z"}
    # the next page re-reads the cursor's second (735 again, not counted twice) and never excludes ids
    assert second["modified_after"] == "2026-11-23T09:04:59" and "exclude" not in second
    assert order_ids(pages)[-2:] == ["735", "736"]
    assert [p.fetched for p in pages] == [7, 1]


def test_resuming_from_a_cursor_reads_the_cursors_second_again_and_what_follows():
    cursor = KeysetCursor(datetime(2026, 11, 22, 8, 0, tzinfo=UTC)).encode()
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector().fetch(Resource.ORDERS, cursor, NOW))
    assert order_ids(pages) == ["730", "733", "734", "735", "736"]  # 730 is at the cursor's second


def test_an_old_cursor_with_excluded_ids_no_longer_hides_them():
    # A cursor saved before the fix: {"modified": ..., "ids": [...]} (sent as exclude=, issue 11 #2).
    cursor = json.dumps({"modified": "2026-11-22T08:00:00Z", "ids": ["730"]})
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector().fetch(Resource.ORDERS, cursor, NOW))
        assert all("exclude" not in params_of(call) for call in mock.calls)
    assert order_ids(pages)[0] == "730"
    assert json.loads(pages[-1].cursor) == {"modified": "2026-11-23T09:05:00Z"}


def test_an_order_modified_during_the_sync_does_not_shift_pages_and_lose_another():
    shop = fixture_shop()
    with responses.RequestsMock() as mock:
        route_shop(mock, shop)
        seen = []
        for page in connector(2).fetch(Resource.ORDERS, None, NOW):
            seen.extend(e.properties["order_id"] for e in page.events)
            if len(seen) == 2:  # 729 changes after the first page: it moves past "now"
                order = next(r for r in shop.collections["orders"].records if r["id"] == 729)
                order["date_modified_gmt"] = "2026-11-23T12:00:30"
    assert seen == ["727", "728", "730", "733", "734", "735", "736"]  # 729 comes with the next sync


def test_orders_modified_after_now_wait_for_the_next_sync():
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector().fetch(Resource.ORDERS, None, datetime(2026, 11, 22, 8, 0, tzinfo=UTC)))
    assert order_ids(pages) == ["727", "728", "729"]  # 730 was modified at 08:00:00 exactly: not before "now"


def test_malformed_records_are_skipped_and_counted_not_fatal():
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop(orders=woo_fixture("orders_malformed", decimal=False)))
        pages = list(connector().fetch(Resource.ORDERS, None, NOW))
    assert order_ids(pages) == ["727", "729"]
    skipped = [(s.record_id, s.reason) for p in pages for s in p.skipped]
    assert [i for i, _ in skipped] == ["999", "728"]
    assert "total: not an amount" in dict(skipped)["728"]
    assert all("@" not in reason for _, reason in skipped)


def test_many_records_at_one_second_move_on_by_page_number_and_end():
    shop = fixture_shop()
    for record in shop.collections["orders"].records:
        record["date_modified_gmt"] = "2026-11-23T09:05:00"
    with responses.RequestsMock() as mock:
        route_shop(mock, shop)
        pages = list(connector(2).fetch(Resource.ORDERS, None, NOW))
        calls = [params_of(c) for c in mock.calls]
    assert sorted(order_ids(pages)) == sorted(str(i) for i in ALL_ORDERS)
    assert sum(p.fetched for p in pages) == len(ALL_ORDERS)
    assert len(calls) <= len(ALL_ORDERS)  # no loop: every page either moves the cursor or the page number


def test_products_skip_variations_and_follow_the_same_cursor():
    with responses.RequestsMock() as mock:
        route_shop(
            mock,
            fixture_shop(
                products=woo_fixture("products", decimal=False) + [woo_fixture("product_variation", decimal=False)]
            ),
        )
        pages = list(connector().fetch(Resource.PRODUCTS, None, NOW))
    assert [e.properties["product_id"] for p in pages for e in p.events] == ["22", "93", "40"]
    assert pages[-1].fetched == 4


def test_first_customer_sync_scans_by_id_with_page_numbers_and_link_headers():
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector(2).fetch(Resource.CUSTOMERS, None, NOW))
        calls = [params_of(c) for c in mock.calls]
        link = mock.calls[0].response.headers["Link"]
    assert [(c["orderby"], c["order"], c["page"]) for c in calls] == [("id", "asc", "1"), ("id", "asc", "2")]
    assert 'rel="next"' in link and "page=2" in link
    assert [e.contact.external_id for p in pages for e in p.events] == ["12", "13", "14"]
    mid = CustomerCursor.decode(pages[0].cursor)
    assert mid.scan_started == NOW and mid.scan_page == 1
    done = CustomerCursor.decode(pages[-1].cursor)
    assert done.scanned_at == NOW and done.scan_started is None
    assert done.created == datetime(2026, 9, 1, 6, 0, tzinfo=UTC)


def test_a_customer_scan_resumes_at_the_next_page():
    cursor = CustomerCursor(scan_started=NOW - timedelta(minutes=3), scan_page=1).encode()
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector(2).fetch(Resource.CUSTOMERS, cursor, NOW))
        assert params_of(mock.calls[0])["page"] == "2"
    assert [e.contact.external_id for p in pages for e in p.events] == ["14"]
    assert CustomerCursor.decode(pages[-1].cursor).scanned_at == NOW - timedelta(minutes=3)


def test_between_daily_scans_only_new_registrations_are_read_newest_first():
    cursor = CustomerCursor(created=datetime(2026, 6, 15, 10, 30, tzinfo=UTC), scanned_at=NOW - timedelta(hours=2))
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        pages = list(connector(1).fetch(Resource.CUSTOMERS, cursor.encode(), NOW))
        calls = [params_of(c) for c in mock.calls]
    assert [(c["orderby"], c["order"]) for c in calls] == [("registered_date", "desc")] * 3
    # 14 is new, 13 is the one at the cursor (read again: a duplicate), 12 is older: the run stops there.
    assert [e.contact.external_id for p in pages for e in p.events] == ["14", "13"]
    assert [p.cursor is None for p in pages] == [True, True, False]
    assert CustomerCursor.decode(pages[-1].cursor).created == datetime(2026, 9, 1, 6, 0, tzinfo=UTC)


def test_a_daily_scan_is_due_after_24_hours():
    cursor = CustomerCursor(created=NOW, scanned_at=NOW - timedelta(hours=24)).encode()
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        list(connector().fetch(Resource.CUSTOMERS, cursor, NOW))
        assert params_of(mock.calls[0])["orderby"] == "id"


def test_cursor_since():
    since = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    c = connector()
    assert KeysetCursor.decode(c.cursor_since(Resource.ORDERS, since)) == KeysetCursor(since)
    assert CustomerCursor.decode(c.cursor_since(Resource.CUSTOMERS, since)).created == since


def test_woocommerce_has_no_cart_sync_and_needs_keys():
    assert Resource.CARTS not in connector().resources()
    with pytest.raises(ConfigError, match="no cart API"):
        list(connector().fetch(Resource.CARTS, None, NOW))
    bare = validate_tenant({"name": "bare", "platform": "woocommerce", "url": SHOP_URL})
    with pytest.raises(ConfigError, match="tenant bare: credentials.consumer_key"):
        from_tenant(bare)


def test_page_size_is_capped_at_woocommerce_maximum():
    config = validate_tenant(
        {
            "name": "big",
            "platform": "woocommerce",
            "url": SHOP_URL,
            "credentials": CREDENTIALS,
            "sync": {"page_size": 500},
        }
    )
    assert from_tenant(config).page_size == 100
