"""Fixtures and a fake WooCommerce shop behind ``responses`` for the connector tests."""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

from connectors.base import Page
from connectors.woocommerce.fakeshop import FakeShop, ListCollection
from core.sections import validate_tenant
from tests.conftest import FIXTURES

SHOP_URL = "https://shop.example.com"
API = f"{SHOP_URL}/wp-json/wc/v3"
KEY = "ck_0123456789abcdef0123456789abcdef01234567"
SECRET = "cs_76543210fedcba9876543210fedcba9876543210"
CREDENTIALS = {"consumer_key": KEY, "consumer_secret": SECRET}
#: The WooCommerce tenant of the connector tests.
WOO_CONFIG = validate_tenant(
    {
        "name": "shop",
        "platform": "woocommerce",
        "url": SHOP_URL,
        "timezone": "Europe/Paris",
        "credentials": CREDENTIALS,
        "sync": {"birthday_meta_key": "billing_birth_date"},
    }
)


def woo_fixture(name: str, decimal: bool = True) -> Any:
    """A WooCommerce fixture as the connector decodes it (Decimal numbers) or as plain ``json`` does."""
    text = (FIXTURES / "woocommerce" / f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text, parse_float=Decimal) if decimal else json.loads(text)


def fixture_shop(**overrides: list[dict[str, Any]]) -> FakeShop:
    """A fake shop holding the fixtures (deep copies, so a test may change them)."""
    data = {
        "orders": woo_fixture("orders", decimal=False),
        "customers": woo_fixture("customers", decimal=False),
        "products": woo_fixture("products", decimal=False),
    }
    data.update(overrides)
    shop = FakeShop(consumer_key=KEY, consumer_secret=SECRET, url=SHOP_URL)
    shop.collections = {name: ListCollection(copy.deepcopy(records)) for name, records in data.items()}
    return shop


def route_shop(mock: responses.RequestsMock, shop: FakeShop) -> None:
    """Answer every GET under the shop's REST API from ``shop``."""

    def callback(request: Any) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url)
        return shop.respond(parts.path, parts.query, request.headers.get("Authorization"))

    mock.add_callback(responses.GET, re.compile(re.escape(API) + r"/.*"), callback=callback)


def params_of(call: Any) -> dict[str, str]:
    """The query parameters of a recorded call (last value of each)."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(call.request.url).query).items()}


#: Seconds a first mapping waits for the next page's request; never reached when they overlap.
OVERLAP_WAIT = 5.0


class Overlap:
    """Counts the page requests; the first mapping waits until the second page has been asked for."""

    def __init__(self, request: Callable[..., Any], wait: float = OVERLAP_WAIT) -> None:
        self.request = request
        self.wait = wait
        self.asked = 0
        self.second_asked = threading.Event()
        self.mapped_first = False
        self.overlapped: bool | None = None

    def page(self, *args: Any, **kwargs: Any) -> Any:
        self.asked += 1
        if self.asked == 2:
            self.second_asked.set()
        return self.request(*args, **kwargs)

    def before_mapping(self) -> None:
        if not self.mapped_first:
            self.mapped_first = True
            self.overlapped = self.second_asked.wait(self.wait)


def no_request_thread() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith(("relance-woocommerce", "relance-magento"))]


def page_shapes(pages: list[Page]) -> list[tuple[str | None, int, list[str]]]:
    """Each page's cursor, records fetched and event ids: what must not change when requests overlap."""
    return [(p.cursor, p.fetched, [e.message_id for e in p.events]) for p in pages]
