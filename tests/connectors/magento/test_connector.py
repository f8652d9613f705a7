"""``MagentoConnector.fetch`` against the fake shop: keyset pages, cursors, lookups, skips."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from connectors.base import Resource
from connectors.magento.connector import from_tenant
from connectors.magento.paging import Keyset
from core.errors import ConfigError
from core.sections import validate_tenant
from tests.conftest import NOW
from tests.connectors.magento.conftest import tenant_raw

ORDER_IDS_BY_TIME = ["1005", "1003", "1004", "1001", "1002", "1006"]


def drain(connector, resource, cursor=None, now=NOW):
    return list(connector.fetch(resource, cursor, now))


def ids(pages, key="order_id"):
    return [event.properties[key] for page in pages for event in page.events]


def test_orders_come_in_keyset_pages_sorted_by_time_then_id(shop, make_connector):
    pages = drain(make_connector(page_size=2), Resource.ORDERS)
    assert ids(pages) == ORDER_IDS_BY_TIME  # 1001 and 1002 share 16:40:11: the id breaks the tie
    assert [page.fetched for page in pages] == [2, 2, 2]
    assert json.loads(pages[0].cursor) == {"updated_at": "2026-11-15T09:20:45Z", "id": 1003}
    assert json.loads(pages[-1].cursor) == {"updated_at": "2026-11-22T08:00:00Z", "id": 1006}
    calls = shop.calls("orders")
    assert len(calls) == 3  # the last page said total_count was reached: no request past the end
    assert all(call["searchCriteria[currentPage]"] == "1" for call in calls)  # keyset, not offsets
    second = calls[1]
    assert second["searchCriteria[filter_groups][1][filters][0][condition_type]"] == "gteq"
    assert second["searchCriteria[filter_groups][2][filters][0][value]"] == "2026-11-15 09:20:45"
    assert second["searchCriteria[filter_groups][2][filters][1][field]"] == "entity_id"
    assert second["searchCriteria[filter_groups][2][filters][1][value]"] == "1003"
    assert calls[0]["searchCriteria[filter_groups][0][filters][0][value]"] == "2026-11-23 11:59:00"  # now - 1 min
    assert calls[0]["searchCriteria[sortOrders][0][field]"] == "updated_at"
    assert calls[0]["searchCriteria[sortOrders][1][field]"] == "entity_id"


def test_a_saved_cursor_resumes_after_the_records_it_covers(shop, make_connector):
    connector = make_connector(page_size=2)
    first = drain(connector, Resource.ORDERS)
    resumed = drain(connector, Resource.ORDERS, cursor=first[1].cursor)
    assert ids(resumed) == ORDER_IDS_BY_TIME[3:]  # the cursor's own second is read again (issue 11)
    tie = drain(
        connector, Resource.ORDERS, cursor=Keyset(datetime(2026, 11, 21, 16, 40, 11, tzinfo=UTC), 1001).encode()
    )
    assert ids(tie) == ["1001", "1002", "1006"]  # a new run reads the cursor's second again: nothing lost
    # nothing after the last cursor: only its own second again (1006), which the store finds unchanged
    assert ids(drain(connector, Resource.ORDERS, cursor=first[-1].cursor)) == ["1006"]


def test_a_mass_update_in_one_second_pages_through_without_repeats(shop, make_connector):
    pages = drain(make_connector(page_size=2), Resource.PRODUCTS)
    assert ids(pages, "product_id") == ["1", "2", "3", "4", "5", "10"]  # 1-4 share 07:00:00


def test_records_changed_in_the_last_minute_wait_for_the_next_sync(shop, make_connector):
    recent = copy.deepcopy(shop.data["orders"][0])
    recent.update(
        entity_id=2001, increment_id="000000201", updated_at=(NOW - timedelta(seconds=30)).strftime("%Y-%m-%d %H:%M:%S")
    )
    settled = copy.deepcopy(recent)
    settled.update(
        entity_id=2002, increment_id="000000202", updated_at=(NOW - timedelta(seconds=61)).strftime("%Y-%m-%d %H:%M:%S")
    )
    future = copy.deepcopy(recent)
    future.update(entity_id=2003, increment_id="000000203", updated_at="2026-11-23 12:30:00")
    shop.data["orders"] += [recent, settled, future]
    got = ids(drain(make_connector(), Resource.ORDERS))
    assert "2002" in got and "2001" not in got and "2003" not in got
    later = ids(drain(make_connector(), Resource.ORDERS, now=NOW + timedelta(hours=1)))
    assert {"2001", "2003"} <= set(later)


def test_a_malformed_record_is_skipped_counted_and_the_sync_goes_on(shop, make_connector, caplog):
    broken = copy.deepcopy(shop.data["orders"][0])
    broken.update(entity_id=1500, grand_total="abc", updated_at="2026-11-16 00:00:00")
    no_id = copy.deepcopy(shop.data["orders"][0])
    no_id.update(entity_id="x-1", updated_at="2026-11-16 00:00:01")
    shop.data["orders"] += [broken, no_id]
    pages = drain(make_connector(page_size=3), Resource.ORDERS)
    assert ids(pages) == ORDER_IDS_BY_TIME
    skipped = [s for page in pages for s in page.skipped]
    assert [(s.resource, s.record_id) for s in skipped] == [(Resource.ORDERS, "1500"), (Resource.ORDERS, "x-1")]
    assert "grand_total" in skipped[0].reason
    assert sum(page.fetched for page in pages) == 8
    assert "@" not in " ".join(s.reason for s in skipped)


def test_a_shop_ignoring_the_filters_still_ends_without_repeats(shop, make_connector):
    shop.honour_filters = False  # answers every order (but sorted and paged) whatever the cursor
    connector = make_connector(page_size=4)
    first = drain(connector, Resource.ORDERS)
    assert ids(first) == ORDER_IDS_BY_TIME
    resumed = drain(connector, Resource.ORDERS, cursor=first[0].cursor)
    assert ids(resumed) == ORDER_IDS_BY_TIME[3:]  # the cursor's own second is read again (issue 11)


def test_customers_are_identify_events(shop, make_connector):
    pages = drain(make_connector(), Resource.CUSTOMERS)
    events = [event for page in pages for event in page.events]
    assert [e.contact.external_id for e in events] == ["7", "8", "9"]
    assert all(e.type.value == "identify" for e in events)


def test_carts_are_active_quotes_with_product_ids_looked_up_by_sku(shop, make_connector):
    pages = drain(make_connector(), Resource.CARTS)
    events = [event for page in pages for event in page.events]
    assert [e.properties["cart_id"] for e in events] == ["601", "602", "604"]  # 603: no email yet
    call = shop.calls("carts/search")[0]
    assert ("is_active", "1") in {
        (call.get(k), call.get(k.replace("[field]", "[value]"))) for k in call if k.endswith("[field]")
    }
    lines = events[0].properties["items"]
    assert [(line["product_id"], line["variant_id"], line["sku"]) for line in lines] == [
        ("1", "4", "MS-CHEM-M-BLEU"),  # the child's SKU, named under its configurable parent
        ("2", None, "24-MB02"),
    ]
    assert events[1].properties["items"][0]["product_id"] is None  # 24-WG085 is not in the catalogue
    sku_lookups = [c for c in shop.calls("products") if "sku" in c.values()]
    assert len(sku_lookups) == 1  # every SKU of the page in one "in" request


def test_product_lookups_are_made_once_per_sync(shop, make_connector):
    pages = drain(make_connector(page_size=2), Resource.PRODUCTS)
    assert len(pages) == 3
    assert len(shop.calls("categories/list")) == 1
    assert len(shop.calls("products/attributes/manufacturer/options")) == 1
    events = {e.properties["product_id"]: e for page in pages for e in page.events}
    assert events["1"].properties["categories"] == ["Chemises", "Été & Plage"]
    assert events["1"].properties["brand"] == "Maison Lumière"
    assert events["1"].properties["cross_sell_ids"] == ["2"]
    assert events["2"].properties["cross_sell_ids"] == ["1"]
    lookups = [c for c in shop.calls("products") if "sku" in c.values()]
    assert len(lookups) == 1 and "DISCONTINUED-01" in " ".join(lookups[0].values())
    # A second sync looks the names up again (a renamed category is seen).
    drain(make_connector(page_size=2), Resource.PRODUCTS)
    assert len(shop.calls("categories/list")) == 2


def test_lookups_the_integration_may_not_make_are_left_out_with_one_warning(shop, make_connector, caplog):
    shop.denied.update({"categories/list", "products/attributes/manufacturer/options"})
    with caplog.at_level(logging.WARNING, logger="connectors.magento.connector"):
        pages = drain(make_connector(page_size=2), Resource.PRODUCTS)
    events = [e for page in pages for e in page.events]
    assert len(events) == 6
    assert all(e.properties["categories"] == [] and e.properties["brand"] is None for e in events)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2
    assert any("Magento_Catalog::categories" in w and "products sync without categories" in w for w in warnings)


def test_a_missing_brand_attribute_is_reported_once(shop, make_connector, caplog):
    with caplog.at_level(logging.WARNING, logger="connectors.magento.connector"):
        pages = drain(make_connector(sync={"brand_attribute": "brand"}), Resource.PRODUCTS)
    assert all(e.properties["brand"] is None for page in pages for e in page.events)
    assert [r.getMessage() for r in caplog.records] == [
        "tenant mage: the shop has no product attribute 'brand' for brands; set sync.brand_attribute "
        "in the tenant file to the attribute that holds them"
    ]


def test_cursor_since_starts_at_that_second(make_connector):
    cursor = make_connector().cursor_since(Resource.ORDERS, datetime(2026, 11, 21, 16, 40, 11, 500000, tzinfo=UTC))
    assert json.loads(cursor) == {"updated_at": "2026-11-21T16:40:11Z", "id": 0}


def test_resources_in_sync_order(make_connector):
    assert make_connector().resources() == (Resource.PRODUCTS, Resource.CUSTOMERS, Resource.CARTS, Resource.ORDERS)


def test_from_tenant_needs_an_access_token():
    config = validate_tenant(tenant_raw(credentials={"store_code": "default"}))
    with pytest.raises(ConfigError, match="tenant mage: credentials.access_token is needed"):
        from_tenant(config)


def test_settings_reach_the_client_and_the_mapping():
    config = validate_tenant(
        tenant_raw(
            credentials={"access_token": "t0k3n", "store_code": "fr"},
            sync={"page_size": 1000, "timeout_seconds": 12, "product_url_suffix": "", "brand_attribute": "brand"},
        )
    )
    connector = from_tenant(config)
    assert connector.client.http.base_url == "https://magento.example.com/rest/fr/V1"
    assert connector.client.http.headers == {"Authorization": "Bearer t0k3n"}
    assert connector.client.http.timeout == 12.0
    assert connector.page_size == 300  # Magento's input limit
    assert (connector.ctx.url_suffix, connector.ctx.brand_attribute) == ("", "brand")
    assert validate_tenant(config.to_dict()) == config


@pytest.mark.parametrize(
    ("sync", "message"),
    [
        ({"product_url_suffix": ".html?x"}, 'sync.product_url_suffix: must be a URL suffix such as ".html"'),
        ({"product_url_suffix": 5}, "sync.product_url_suffix"),
        ({"brand_attribute": ["brand"]}, "sync.brand_attribute: must be a string"),
    ],
)
def test_bad_magento_settings_are_refused_with_the_key_named(sync, message):
    with pytest.raises(ConfigError, match=message):
        validate_tenant(tenant_raw(sync=sync))
