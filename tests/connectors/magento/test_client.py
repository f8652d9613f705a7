"""The Magento HTTP client against the fake shop: searchCriteria, paging by total_count, auth, retries."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.magento.client import Filter, MagentoClient, search_params
from tests.connectors.magento.fakeshop import SHOP_URL, TOKEN


def client(token: str = TOKEN, store_code: str | None = None, sleeps: list[float] | None = None) -> MagentoClient:
    waits = sleeps if sleeps is not None else []
    return MagentoClient(SHOP_URL, token, tenant="mage", store_code=store_code, sleep=waits.append)


def test_search_params_group_filters_and_sort():
    params = search_params(
        [
            [Filter("updated_at", "2026-11-20 00:00:00", "gteq")],
            [Filter("updated_at", "x", "gt"), Filter("entity_id", "7", "gt")],
        ],
        [("updated_at", "ASC"), ("entity_id", "ASC")],
        page_size=50,
        page=2,
    )
    assert params == {
        "searchCriteria[filter_groups][0][filters][0][field]": "updated_at",
        "searchCriteria[filter_groups][0][filters][0][value]": "2026-11-20 00:00:00",
        "searchCriteria[filter_groups][0][filters][0][condition_type]": "gteq",
        "searchCriteria[filter_groups][1][filters][0][field]": "updated_at",
        "searchCriteria[filter_groups][1][filters][0][value]": "x",
        "searchCriteria[filter_groups][1][filters][0][condition_type]": "gt",
        "searchCriteria[filter_groups][1][filters][1][field]": "entity_id",
        "searchCriteria[filter_groups][1][filters][1][value]": "7",
        "searchCriteria[filter_groups][1][filters][1][condition_type]": "gt",
        "searchCriteria[sortOrders][0][field]": "updated_at",
        "searchCriteria[sortOrders][0][direction]": "ASC",
        "searchCriteria[sortOrders][1][field]": "entity_id",
        "searchCriteria[sortOrders][1][direction]": "ASC",
        "searchCriteria[pageSize]": "50",
        "searchCriteria[currentPage]": "2",
    }
    assert search_params([]) == {"searchCriteria": ""}


def test_bearer_token_all_scope_and_exact_money(shop):
    page = client().search("orders", [[Filter("increment_id", "000000101")]], page_size=10)
    assert page.total_count == 1
    order = page.items[0]
    assert order["grand_total"] == Decimal("157.9") and isinstance(order["grand_total"], Decimal)
    assert order["customer_firstname"] == "Zoë"
    assert shop.requests[0][0] == "orders"


def test_store_code_is_the_scope_of_the_url(shop):
    shop.scope = "fr"
    with pytest.raises(ConnectorError, match="HTTP 404: Request does not match any route"):
        client().search("orders")  # /rest/all/V1 is not served now
    page = client(store_code="fr").search("orders")
    assert page.total_count == 6


def test_paging_stops_by_total_count_although_magento_repeats_the_last_page(shop):
    # 7 categories, 3 a page: pages 1, 2, 3; a 4th request would get page 3 again, forever.
    pages = list(client().iter_pages("categories/list", sort=[("entity_id", "ASC")], page_size=3))
    assert [[c["id"] for c in page.items] for page in pages] == [[1, 2, 3], [4, 5, 6], [7]]
    assert [params["searchCriteria[currentPage]"] for params in shop.calls("categories/list")] == ["1", "2", "3"]
    # The fake shop does repeat the last page past the end, as Magento does:
    again = client().search("categories/list", sort=[("entity_id", "ASC")], page_size=3, page=9)
    assert [c["id"] for c in again.items] == [7]


def test_paging_stops_on_a_repeated_page_when_total_count_lies(shop, monkeypatch):
    real = shop.search

    def no_total(endpoint, query):
        answer = real(endpoint, query)
        answer["total_count"] = 10_000  # a broken count: only the repeat can stop the loop
        return answer

    monkeypatch.setattr(shop, "search", no_total)
    pages = list(client().iter_pages("categories/list", sort=[("entity_id", "ASC")], page_size=3))
    assert len(pages) == 3
    assert len(shop.calls("categories/list")) == 4  # the 4th answered page 3 again and ended it


def test_refused_token_names_the_tenant_and_what_to_check(shop):
    with pytest.raises(ConnectorAuthError) as info:
        client(token="wrong").search("orders")
    message = str(info.value)
    assert message.startswith("tenant mage: the shop refused our credentials (HTTP 401 on orders)")
    assert "credentials.access_token" in message and "enable_integration_as_bearer" in message
    assert "Magento_Sales::actions_view" in message  # Magento's %resources filled in
    assert "wrong" not in message
    assert len(shop.requests) == 1  # never retried


def test_missing_acl_resource_is_named(shop):
    shop.denied.add("customers/search")
    with pytest.raises(ConnectorAuthError, match="Magento_Customer::customer"):
        client().search("customers/search")


def test_429_and_503_are_retried_honouring_retry_after(shop):
    shop.failures["orders"] = [(429, {"Retry-After": "7"}), (503, {"Retry-After": "2"}), (502, {})]
    sleeps: list[float] = []
    page = client(sleeps=sleeps).search("orders")
    assert page.total_count == 6
    assert sleeps[:2] == [7.0, 2.0] and len(sleeps) == 3
    assert len(shop.calls("orders")) == 4


def test_a_shop_that_stays_down_stops_with_a_connector_error(shop):
    shop.fail_after["orders"] = 0
    with pytest.raises(ConnectorError, match="still failing after 5 tries"):
        client().search("orders")


def test_timeouts_are_retried_then_reported():
    session = requests.Session()
    calls = []

    def boom(*args, **kwargs):
        calls.append(kwargs.get("timeout"))
        raise requests.ReadTimeout("slow")

    session.request = boom
    slow = MagentoClient(SHOP_URL, TOKEN, tenant="mage", timeout=12.5, session=session, sleep=lambda s: None)
    with pytest.raises(ConnectorError, match="ReadTimeout"):
        slow.search("orders")
    assert calls == [12.5] * 5


def test_attribute_options_skip_the_blank_option(shop):
    assert client().attribute_options("manufacturer") == {
        "12": "Maison Lumière",
        "13": "Joust",
        "14": "Atelier &amp; Fils",
    }
    with pytest.raises(ConnectorError, match="HTTP 404"):
        client().attribute_options("brand")


def test_html_instead_of_json_says_to_check_the_url(shop):
    import responses

    with responses.RequestsMock() as mock:
        mock.add(responses.GET, f"{SHOP_URL}/rest/all/V1/orders", body="<html>Whoops</html>", content_type="text/html")
        with pytest.raises(ConnectorError, match="not JSON: check the shop URL"):
            client().search("orders")
