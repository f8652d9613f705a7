"""WooCommerce asks for the next page while the current one is mapped: a real shop takes as long to answer
a page as the mapping takes, so the two overlap. Pages still come out in order, whole, and a fetch closed
early leaves no request thread behind; with ``sync.concurrent_requests: 1`` requests come one at a time."""

from __future__ import annotations

from concurrent.futures import CancelledError
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.base import Resource
from connectors.http import InTurn
from connectors.woocommerce.connector import from_tenant as woo_connector
from core.sections import validate_tenant
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, Overlap, fixture_shop, no_request_thread, route_shop

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WOO = validate_tenant(
    {
        "name": "shop",
        "platform": "woocommerce",
        "url": SHOP_URL,
        "timezone": "Europe/Paris",
        "credentials": CREDENTIALS,
        "sync": {"birthday_meta_key": "billing_birth_date"},
    }
)


def test_woocommerce_asks_for_the_next_page_while_mapping_one(monkeypatch) -> None:
    from connectors.woocommerce import mapping

    expected_connector = woo_connector(WOO, sleep=lambda s: None, page_size=2)
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        expected = list(expected_connector.fetch(Resource.ORDERS, None, NOW))
        connector = woo_connector(WOO, sleep=lambda s: None, page_size=2)
        overlap = Overlap(connector.client.fetch_page)
        connector.client.fetch_page = overlap.page  # type: ignore[method-assign]
        map_order = mapping.map_order

        def mapped(record: Any, ctx: Any) -> Any:
            overlap.before_mapping()
            return map_order(record, ctx)

        monkeypatch.setattr(mapping, "map_order", mapped)
        pages = list(connector.fetch(Resource.ORDERS, None, NOW))
    assert overlap.overlapped is True
    assert len(expected) > 2
    assert [(p.cursor, p.fetched, [e.message_id for e in p.events]) for p in pages] == [
        (p.cursor, p.fetched, [e.message_id for e in p.events]) for p in expected
    ]


def test_woocommerce_fetch_closed_early_leavesno_request_thread() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        route_shop(mock, fixture_shop())
        pages = woo_connector(WOO, sleep=lambda s: None, page_size=2).fetch(Resource.ORDERS, None, NOW)
        assert next(pages).events
        pages.close()
    assert no_request_thread()


def test_woocommerce_one_request_at_a_time_when_the_tenant_says_so(monkeypatch) -> None:
    from connectors.woocommerce import mapping

    one = validate_tenant({**WOO.to_dict(), "sync": {**WOO.to_dict()["sync"], "concurrent_requests": 1}})
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        connector = woo_connector(one, sleep=lambda s: None, page_size=2)
        overlap = Overlap(connector.client.fetch_page, wait=0.2)
        connector.client.fetch_page = overlap.page  # type: ignore[method-assign]
        map_order = mapping.map_order

        def mapped(record: Any, ctx: Any) -> Any:
            overlap.before_mapping()
            return map_order(record, ctx)

        monkeypatch.setattr(mapping, "map_order", mapped)
        pages = list(connector.fetch(Resource.ORDERS, None, NOW))
    assert overlap.overlapped is False  # the first page was mapped before the second was asked for
    assert len(pages) > 2


def test_in_turn_makes_a_request_when_asked_once_and_never_when_cancelled() -> None:
    made: list[int] = []

    def request(n: int) -> int:
        made.append(n)
        if n < 0:
            raise ValueError("HTTP 500")
        return n * 10

    executor = InTurn()
    first, failing, dropped = executor.submit(request, 1), executor.submit(request, -1), executor.submit(request, 3)
    assert made == []  # nothing before its result is asked for
    assert first.result() == 10 and first.result() == 10
    with pytest.raises(ValueError, match="HTTP 500"):
        failing.result()
    assert dropped.cancel()
    with pytest.raises(CancelledError):
        dropped.result()
    assert made == [1, -1]
    executor.shutdown(wait=True, cancel_futures=True)


def test_woocommerce_customer_scan_asks_for_the_next_page_while_mapping_one(monkeypatch) -> None:
    from connectors.woocommerce import mapping

    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        expected = list(woo_connector(WOO, sleep=lambda s: None, page_size=1).fetch(Resource.CUSTOMERS, None, NOW))
        connector = woo_connector(WOO, sleep=lambda s: None, page_size=1)
        overlap = Overlap(connector.client.fetch_page)
        connector.client.fetch_page = overlap.page  # type: ignore[method-assign]
        map_customer = mapping.map_customer

        def mapped(record: Any, ctx: Any) -> Any:
            overlap.before_mapping()
            return map_customer(record, ctx)

        monkeypatch.setattr(mapping, "map_customer", mapped)
        pages = list(connector.fetch(Resource.CUSTOMERS, None, NOW))
    assert overlap.overlapped is True
    assert len(expected) > 2
    assert [(p.cursor, p.fetched, [e.message_id for e in p.events]) for p in pages] == [
        (p.cursor, p.fetched, [e.message_id for e in p.events]) for p in expected
    ]
