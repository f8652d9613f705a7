"""WooCommerce asks for the next page while the current one is mapped: a real shop takes as long to answer
a page as the mapping takes, so the two overlap. Pages still come out in order, whole, and a fetch closed
early leaves no request thread behind; with ``sync.concurrent_requests: 1`` requests come one at a time."""

from __future__ import annotations

from concurrent.futures import CancelledError
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from connectors.base import Page, Resource
from connectors.http import InTurn
from connectors.woocommerce import mapping
from connectors.woocommerce.connector import from_tenant as woo_connector
from core.sections import validate_tenant
from core.tenants import TenantConfig
from tests.connectors.helpers import WOO_CONFIG, Overlap, fixture_shop, no_request_thread, page_shapes, route_shop

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _watched(
    monkeypatch, resource: Resource, mapper: str, page_size: int, config: TenantConfig = WOO_CONFIG, wait: float = 5.0
) -> tuple[list[Page], list[Page], Overlap]:
    """The pages of a plain fetch, the pages of the same fetch whose first mapping (``mapping.<mapper>``)
    waits for the second page's request, and what that wait saw."""
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        expected = list(woo_connector(config, sleep=lambda s: None, page_size=page_size).fetch(resource, None, NOW))
        connector = woo_connector(config, sleep=lambda s: None, page_size=page_size)
        overlap = Overlap(connector.client.fetch_page, wait=wait)
        connector.client.fetch_page = overlap.page  # type: ignore[method-assign]
        mapped = getattr(mapping, mapper)

        def waiting(record: Any, ctx: Any) -> Any:
            overlap.before_mapping()
            return mapped(record, ctx)

        monkeypatch.setattr(mapping, mapper, waiting)
        pages = list(connector.fetch(resource, None, NOW))
    return expected, pages, overlap


def test_woocommerce_asks_for_the_next_page_while_mapping_one(monkeypatch) -> None:
    expected, pages, overlap = _watched(monkeypatch, Resource.ORDERS, "map_order", page_size=2)
    assert overlap.overlapped is True
    assert len(expected) > 2
    assert page_shapes(pages) == page_shapes(expected)


def test_woocommerce_fetch_closed_early_leaves_no_request_thread() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        route_shop(mock, fixture_shop())
        pages = woo_connector(WOO_CONFIG, sleep=lambda s: None, page_size=2).fetch(Resource.ORDERS, None, NOW)
        assert next(pages).events
        pages.close()
    assert no_request_thread()


def test_woocommerce_one_request_at_a_time_when_the_tenant_says_so(monkeypatch) -> None:
    raw = WOO_CONFIG.to_dict()
    one = validate_tenant({**raw, "sync": {**raw["sync"], "concurrent_requests": 1}})
    expected, pages, overlap = _watched(monkeypatch, Resource.ORDERS, "map_order", page_size=2, config=one, wait=0.2)
    assert overlap.overlapped is False  # the first page was mapped before the second was asked for
    assert len(pages) > 2
    assert page_shapes(pages) == page_shapes(expected)


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
    expected, pages, overlap = _watched(monkeypatch, Resource.CUSTOMERS, "map_customer", page_size=1)
    assert overlap.overlapped is True
    assert len(expected) > 2
    assert page_shapes(pages) == page_shapes(expected)
