"""The PrestaShop client: list shapes, auth, retries, and the webservice's query parameters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from connectors.base import Resource
from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.prestashop.client import unwrap
from connectors.prestashop.connector import PrestaShopConnector, from_tenant
from core.errors import ConfigError
from core.sections import validate_tenant
from tests.connectors.prestashop.conftest import SHOP_URL, tenant_raw
from tests.connectors.prestashop.fakeshop import KEY, FakePrestaShop

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
Build = Callable[..., PrestaShopConnector]


@pytest.mark.parametrize("empty", [[], {}, {"customers": []}])
def test_every_empty_list_shape_is_empty(empty: object) -> None:
    assert unwrap(empty, "customers", "shop") == []


def test_list_shapes() -> None:
    assert unwrap({"customers": [{"id": 1}]}, "customers", "shop") == [{"id": 1}]
    assert unwrap({"customer": {"id": 1}}, "customers", "shop") == [{"id": 1}]  # single record without display
    with pytest.raises(ConnectorError, match="without a 'customers' list"):
        unwrap({"products": [{"id": 1}]}, "customers", "shop")
    with pytest.raises(ConnectorError, match="unexpected JSON shape"):
        unwrap("<html>", "customers", "shop")


def test_wrong_key_stops_with_one_line_naming_the_tenant(make_connector: Build) -> None:
    config = validate_tenant(tenant_raw(credentials={"api_key": "WRONGKEY0000000000000000000000XX"}))
    connector = make_connector(config)
    with pytest.raises(ConnectorAuthError) as caught:
        list(connector.fetch(Resource.CUSTOMERS, None, NOW))
    message = str(caught.value)
    assert "tenant boutique" in message and "HTTP 401" in message
    assert "credentials.api_key" in message and "Advanced Parameters > Webservice" in message
    assert "WRONGKEY" not in message


def test_503_with_retry_after_is_retried_after_that_wait(shop: FakePrestaShop) -> None:
    waits: list[float] = []
    connector = from_tenant(validate_tenant(tenant_raw()), sleep=waits.append)
    shop.failures.extend([(503, {"Retry-After": "7"}), (429, {"Retry-After": "2"})])
    pages = list(connector.fetch(Resource.ORDERS, None, NOW))
    assert waits == [7.0, 2.0]
    assert sum(len(page.events) for page in pages) == 7


def test_a_shop_that_stays_down_is_a_connector_error(shop: FakePrestaShop, make_connector: Build) -> None:
    shop.failures.extend([(502, {})] * 5)
    with pytest.raises(ConnectorError, match="still failing after 5 tries"):
        list(make_connector().fetch(Resource.PRODUCTS, None, NOW))


def test_requests_use_json_date_filters_sorting_and_offsets(shop: FakePrestaShop, make_connector: Build) -> None:
    list(make_connector(page_size=3).fetch(Resource.ORDERS, None, NOW))
    first, *_ = shop.calls_to("orders")
    assert first["output_format"] == "JSON"
    assert first["display"] == "full"
    assert first["date"] == "1"
    assert first["filter[date_upd]"] == "[1970-01-01 00:00:00,2026-11-23 13:00:00]"  # now, in Paris time
    assert first["sort"] == "[date_upd_ASC,id_ASC]"
    assert first["limit"] == "0,3"
    assert "ws_key" not in first  # the key travels in the Authorization header, not in URLs


def test_customer_lists_never_ask_for_password_hashes(shop: FakePrestaShop, make_connector: Build) -> None:
    list(make_connector().fetch(Resource.CUSTOMERS, None, NOW))
    list(make_connector().fetch(Resource.ORDERS, None, NOW))
    displays = [params["display"] for params in shop.calls_to("customers")]
    assert displays and all(d != "full" and "passwd" not in d and "secure_key" not in d for d in displays)


def test_language_id_is_sent_and_names_come_in_that_language(shop: FakePrestaShop, make_connector: Build) -> None:
    config = validate_tenant(tenant_raw(credentials={"api_key": shop.key, "language_id": 2}))
    pages = list(make_connector(config).fetch(Resource.PRODUCTS, None, NOW))
    assert all(params.get("language") == "2" for _, params in shop.calls)
    names = {e.properties["product_id"]: e.properties["name"] for p in pages for e in p.events}
    assert names["2"] == "Coffee & Tea mug"
    assert names["1"] == "Hummingbird printed t-shirt"


def test_missing_api_key_is_a_config_error() -> None:
    config = validate_tenant(tenant_raw(credentials={}))
    with pytest.raises(ConfigError, match="credentials.api_key"):
        from_tenant(config)


def test_registry_builds_the_prestashop_connector() -> None:
    from connectors.registry import connector_for

    connector = connector_for(validate_tenant(tenant_raw()), session=None, sleep=lambda s: None, page_size=7)
    assert isinstance(connector, PrestaShopConnector)
    assert connector.page_size == 7
    assert connector.client.http.base_url == f"{SHOP_URL}/api"
    assert connector.client.http.auth == (KEY, "") and connector.client.http.timeout == 30.0


def test_query_string_auth_sends_the_key_as_ws_key(shop: FakePrestaShop, make_connector: Build) -> None:
    config = validate_tenant(tenant_raw(credentials={"api_key": shop.key, "query_string_auth": True}))
    pages = list(make_connector(config).fetch(Resource.PRODUCTS, None, NOW))
    assert len([e for p in pages for e in p.events]) == 4
    assert all(params.get("ws_key") == shop.key for _, params in shop.calls)
