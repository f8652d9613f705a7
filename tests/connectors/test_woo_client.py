"""The WooCommerce client over HTTP (faked with ``responses``): auth modes, paging headers, retries, errors."""

from __future__ import annotations

import base64
import json

import pytest
import requests
import responses
from responses import matchers

from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.woocommerce.client import WooClient
from tests.connectors.helpers import API, KEY, SECRET, SHOP_URL, woo_fixture

ORDERS = woo_fixture("orders", decimal=False)


def client(url: str = SHOP_URL, sleeps: list[float] | None = None, **kwargs) -> WooClient:
    sink = sleeps if sleeps is not None else []
    return WooClient(url, KEY, SECRET, tenant="shop", sleep=sink.append, **kwargs)


def body(records) -> str:
    return json.dumps(records).replace("/", "\\/")


@responses.activate
def test_https_uses_basic_auth_and_reads_paging_headers():
    responses.get(
        f"{API}/orders",
        body=body(ORDERS[:2]),
        headers={
            "X-WP-Total": "8",
            "X-WP-TotalPages": "4",
            "Link": f'<{API}/orders?per_page=2&page=2>; rel="next"',
        },
        match=[matchers.query_param_matcher({"per_page": "2"})],
    )
    page = client().fetch_page("orders", {"per_page": 2})
    assert [r["id"] for r in page.records] == [727, 728]
    assert (page.total, page.total_pages, page.next_url) == (8, 4, f"{API}/orders?per_page=2&page=2")
    request = responses.calls[0].request
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert request.req_kwargs["timeout"] == 30.0


@responses.activate
def test_money_is_decoded_exactly():
    responses.get(f"{API}/orders", body=body(ORDERS[:1]))
    (order,) = client().fetch_page("orders", {}).records
    assert str(order["line_items"][1]["price"]) == "7.003333333333334"
    assert type(order["line_items"][1]["price"]).__name__ == "Decimal"


@responses.activate
def test_query_string_auth_sends_the_keys_as_parameters_and_no_header():
    responses.get(
        f"{API}/customers",
        json=[],
        match=[matchers.query_param_matcher({"consumer_key": KEY, "consumer_secret": SECRET, "page": "1"})],
    )
    page = client(query_string_auth=True).fetch_page("customers", {"page": 1})
    assert page.records == [] and page.total is None
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_plain_http_signs_with_oauth1_and_never_sends_the_secret():
    responses.get("http://shop.local/wp-json/wc/v3/products", json=[])
    client("http://shop.local").fetch_page("products", {"exclude": "1,2", "per_page": 10})
    url = responses.calls[0].request.url
    assert "oauth_signature=" in url and f"oauth_consumer_key={KEY}" in url and "exclude=1%2C2" in url
    assert SECRET not in url and "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_429_waits_as_long_as_retry_after_says():
    responses.get(f"{API}/orders", status=429, headers={"Retry-After": "7"}, json={"code": "too_many"})
    responses.get(f"{API}/orders", json=ORDERS[:1], headers={"X-WP-TotalPages": "1"})
    sleeps: list[float] = []
    page = client(sleeps=sleeps).fetch_page("orders", {})
    assert len(page.records) == 1 and sleeps == [7.0] and len(responses.calls) == 2


@responses.activate
def test_500_then_success_is_retried_with_backoff():
    responses.get(f"{API}/orders", status=500, body="<html>Internal Server Error</html>")
    responses.get(f"{API}/orders", status=503, body="busy")
    responses.get(f"{API}/orders", json=[])
    sleeps: list[float] = []
    assert client(sleeps=sleeps).fetch_page("orders", {}).records == []
    assert len(sleeps) == 2 and 0 < sleeps[0] < sleeps[1] * 1.5 + 1


@responses.activate
def test_timeouts_are_retried_then_reported():
    responses.get(f"{API}/orders", body=requests.exceptions.ReadTimeout("slow"))
    sleeps: list[float] = []
    with pytest.raises(ConnectorError, match="still failing after 3 tries"):
        client(sleeps=sleeps, max_tries=3).fetch_page("orders", {})
    assert len(responses.calls) == 3


@responses.activate
def test_401_stops_with_one_line_naming_the_tenant_and_what_to_check():
    responses.get(
        f"{API}/orders",
        status=401,
        json={
            "code": "woocommerce_rest_cannot_view",
            "message": "Sorry, you cannot list resources.",
            "data": {"status": 401},
        },
    )
    with pytest.raises(ConnectorAuthError) as info:
        client().fetch_page("orders", {})
    message = str(info.value)
    assert "\n" not in message and message.startswith("tenant shop:")
    assert "consumer_key" in message and "query_string_auth" in message and "Read" in message
    assert SECRET not in message and KEY not in message
    assert len(responses.calls) == 1


@responses.activate
def test_404_points_at_permalinks():
    responses.get(
        f"{API}/orders",
        status=404,
        json={
            "code": "rest_no_route",
            "message": "No route was found matching the URL and request method.",
            "data": {"status": 404},
        },
    )
    with pytest.raises(ConnectorError, match="pretty permalinks"):
        client().fetch_page("orders", {})


@responses.activate
def test_html_instead_of_json_is_a_clear_error():
    responses.get(f"{API}/orders", body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(ConnectorError, match="not JSON"):
        client().fetch_page("orders", {})


@responses.activate
def test_an_object_instead_of_a_list_is_a_clear_error():
    responses.get(f"{API}/orders", json={"id": 1})
    with pytest.raises(ConnectorError, match="did not answer a list"):
        client().fetch_page("orders", {})
