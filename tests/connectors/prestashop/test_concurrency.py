"""The PrestaShop connector's requests side by side: the next page during a page's lookups, an order
page's customers and addresses together, never more than ``sync.concurrent_requests`` at a time, pages in
order and an error after the pages before it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from connectors.base import Resource
from connectors.errors import ConnectorAuthError
from connectors.prestashop.connector import PrestaShopConnector
from core.sections import validate_tenant
from tests.connectors.prestashop.conftest import tenant_raw
from tests.connectors.prestashop.fakeshop import FakePrestaShop

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WAIT = 5.0  # seconds a request waits for the one it must run beside; never reached when they overlap
Build = Callable[..., PrestaShopConnector]


def _params(request: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))


def _resource(request: Any) -> str:
    return urlsplit(request.url).path.rsplit("/", 1)[-1]


class Gate:
    """Wraps the fake shop's answer (see ``_install``): each request first sets the events it names, then
    waits for the one it must run beside (a wait that times out is recorded: the two did not overlap),
    then takes ``delay`` seconds to answer. Counts the requests in flight at once."""

    def __init__(self, shop: FakePrestaShop, delay: float = 0.01) -> None:
        self.shop = shop
        self.answer = shop.answer
        self.delay = delay
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.timed_out: list[str] = []
        self.seen: dict[str, threading.Event] = {}

    def event(self, name: str) -> threading.Event:
        with self.lock:
            return self.seen.setdefault(name, threading.Event())

    def __call__(self, request: Any, waits_for: str | None, names: list[str]) -> tuple[int, dict[str, str], str]:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            for name in names:
                self.event(name).set()
            if waits_for is not None and not self.event(waits_for).wait(WAIT):
                self.timed_out.append(waits_for)
            time.sleep(self.delay)  # long enough for requests sent together to be in flight together
            return self.answer(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def _install(shop: FakePrestaShop, gate: Gate, rule: Callable[[str, dict[str, str]], tuple[str | None, list[str]]]):
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        waits_for, names = rule(_resource(request), _params(request))
        return gate(request, waits_for, names)

    shop.answer = answer  # type: ignore[method-assign] - the callback installed reads it per request


def test_an_order_pages_customers_and_addresses_are_asked_for_together(
    shop: FakePrestaShop, make_connector: Build
) -> None:
    gate = Gate(shop)

    def rule(resource: str, params: dict[str, str]) -> tuple[str | None, list[str]]:
        if resource == "customers" and "filter[id]" in params:
            return "addresses by id", []  # answered only once the addresses lookup has started
        if resource == "addresses" and "filter[id]" in params:
            return None, ["addresses by id"]
        return None, []

    _install(shop, gate, rule)
    pages = list(make_connector().fetch(Resource.ORDERS, None, NOW))
    assert gate.timed_out == []
    assert [e.properties["order_id"] for p in pages for e in p.events] == ["2", "1", "3", "4", "6", "7", "8"]
    assert all(e.contact.email for p in pages for e in p.events)  # the customers' lookups were used


def test_the_next_page_is_asked_for_while_a_pages_lookups_run(shop: FakePrestaShop, make_connector: Build) -> None:
    expected = list(make_connector(page_size=2).fetch(Resource.CUSTOMERS, None, NOW))
    gate = Gate(shop)

    def rule(resource: str, params: dict[str, str]) -> tuple[str | None, list[str]]:
        if resource == "addresses" and params.get("filter[id_customer]") and not gate.event("first lookup").is_set():
            return "second page", ["first lookup"]  # the first page's lookup waits for the next page's request
        if resource == "customers" and "filter[date_upd]" in params:
            return None, ["second page" if gate.event("first page").is_set() else "first page"]
        return None, []

    _install(shop, gate, rule)
    pages = list(make_connector(page_size=2).fetch(Resource.CUSTOMERS, None, NOW))
    assert gate.timed_out == []
    assert gate.event("second page").is_set()
    assert len(expected) > 2
    assert [(p.cursor, [e.message_id for e in p.events]) for p in pages] == [
        (p.cursor, [e.message_id for e in p.events]) for p in expected
    ]  # the same pages, in the same order, as when nothing overlaps


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_requests_in_flight_never_exceed_the_tenants_limit(
    shop: FakePrestaShop, make_connector: Build, limit: int
) -> None:
    gate = Gate(shop, delay=0.05)
    _install(shop, gate, lambda resource, params: (None, []))
    connector = make_connector(validate_tenant(tenant_raw(sync={"concurrent_requests": limit})), page_size=1)
    for resource in connector.resources():
        list(connector.fetch(resource, None, NOW))
    assert gate.most == limit  # 1: one after another; more: as many side by side, never more


def test_pages_come_out_in_order_and_an_error_after_the_pages_before_it(
    shop: FakePrestaShop, make_connector: Build
) -> None:
    first_two = list(make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW))[:2]
    answer = shop.answer
    pages_asked: list[dict[str, str]] = []

    def refuse_the_third_page(request: Any) -> tuple[int, dict[str, str], str]:
        if _resource(request) == "orders" and "filter[date_upd]" in _params(request):
            pages_asked.append(_params(request))
        if len(pages_asked) == 3 and pages_asked[-1] == _params(request):
            return 401, {"Content-Type": "application/json"}, '{"errors":[{"code":20,"message":"key not active"}]}'
        return answer(request)

    shop.answer = refuse_the_third_page  # type: ignore[method-assign]
    got: list[str] = []
    with pytest.raises(ConnectorAuthError, match="HTTP 401"):
        for page in make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW):
            got.extend(e.properties["order_id"] for e in page.events)
    assert got == [e.properties["order_id"] for p in first_two for e in p.events]  # the pages before, in order
    assert len(got) >= 3


def test_a_fetch_closed_early_leaves_no_request_thread(shop: FakePrestaShop, make_connector: Build) -> None:
    pages = make_connector(page_size=2).fetch(Resource.ORDERS, None, NOW)
    first = next(pages)
    assert first.events
    pages.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("relance-prestashop")]
