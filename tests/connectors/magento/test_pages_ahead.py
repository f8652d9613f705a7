"""Magento asks for the next page while the current one is mapped (see tests/connectors/test_pages_ahead.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.base import Resource
from connectors.magento.connector import MagentoConnector
from tests.connectors.helpers import Overlap, no_request_thread, page_shapes
from tests.connectors.magento.fakeshop import FakeMagento

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_magento_asks_for_the_next_page_while_mapping_one(
    shop: FakeMagento, make_connector: Callable[..., MagentoConnector]
) -> None:
    expected = list(make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW))
    connector = make_connector(page_size=2)
    overlap = Overlap(connector.client.search)
    connector.client.search = overlap.page  # type: ignore[method-assign]
    map_each = connector._map_each

    def mapped(*args: Any) -> Any:
        overlap.before_mapping()
        return map_each(*args)

    connector._map_each = mapped  # type: ignore[method-assign]
    pages = list(connector.fetch(Resource.ORDERS, None, NOW))
    assert overlap.overlapped is True
    assert len(expected) > 2
    assert page_shapes(pages) == page_shapes(expected)


def test_magento_fetch_closed_early_leaves_no_request_thread(
    shop: FakeMagento, make_connector: Callable[..., MagentoConnector]
) -> None:
    pages = make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW)
    assert next(pages).events
    pages.close()
    assert no_request_thread()
