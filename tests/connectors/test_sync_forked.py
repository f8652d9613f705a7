"""A sync's pages produced in a forked child process (``connectors.prefetch.ForkedPrefetch``), production's
default on Linux: the same pages in the same order, errors where a plain loop would raise them, a consumer
that stops ends the child, a child that dies loses nothing; against a fake WooCommerce shop over real HTTP
(``responses`` cannot fake HTTP for another process), the same store as the thread's."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys

import pytest
import requests
from sqlalchemy import Engine

from connectors import sync as sync_module
from connectors.base import Resource
from connectors.errors import ConnectorError
from connectors.prefetch import SWITCH_INTERVAL, ForkedPrefetch, Prefetch, ProducerDied
from connectors.sync import run_sync
from connectors.woocommerce.connector import from_tenant
from connectors.woocommerce.fakedata import generate_shop
from connectors.woocommerce.fakeshop import serve
from core.errors import ConfigError
from core.store.export import iter_contacts, iter_orders, iter_products
from relance.settings import Settings
from tests.conftest import NOW, make_tenant

KEY, SECRET = "ck_fork_0123456789abcdef", "cs_fork_0123456789abcdef"  # the fake shop's fake keys


class Unpicklable(RuntimeError):
    def __init__(self, what: str, handle: object) -> None:
        super().__init__(what)
        self.handle = handle


def numbers(count: int, then: BaseException | None = None, kill_after: int | None = None):
    def produce():
        for n in range(count):
            if kill_after is not None and n == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            yield (n, os.getpid())
        if then is not None:
            raise then

    return produce


def test_items_come_out_in_order_from_a_child_process():
    with ForkedPrefetch(numbers(50)) as items:
        got = list(items)
    assert [n for n, _ in got] == list(range(50))
    assert {pid for _, pid in got} != {os.getpid()} and len({pid for _, pid in got}) == 1
    assert multiprocessing.active_children() == []


def test_the_child_hands_the_gil_over_within_half_a_millisecond() -> None:
    # The connector's request thread sends the next page while a page is mapped: it must not wait 5 ms.
    parent = sys.getswitchinterval()
    with ForkedPrefetch(lambda: [sys.getswitchinterval()]) as items:
        assert list(items) == [SWITCH_INTERVAL]
    assert sys.getswitchinterval() == parent  # the parent's own is left as it was


def test_an_error_comes_out_after_the_items_before_it_as_itself_or_named():
    with ForkedPrefetch(numbers(3, then=ConnectorError("HTTP 500 from the shop"))) as items:
        got = []
        with pytest.raises(ConnectorError, match="HTTP 500 from the shop"):
            got.extend(n for n, _ in items)
    assert got == [0, 1, 2]
    with ForkedPrefetch(numbers(1, then=Unpicklable("bad lookup", handle=lambda: None))) as items:
        with pytest.raises(ConnectorError, match="Unpicklable: bad lookup"):
            list(items)


def test_a_consumer_that_stops_ends_the_child():
    with ForkedPrefetch(numbers(10_000)) as items:
        for n, _ in items:
            if n == 3:
                break
    assert multiprocessing.active_children() == []


def test_a_child_killed_midway_gives_the_items_before_then_says_so():
    with ForkedPrefetch(numbers(10, kill_after=4)) as items:
        got = []
        with pytest.raises(ProducerDied, match=r"ended before its last page \(killed by signal 9\)"):
            got.extend(n for n, _ in items)
    assert got == [0, 1, 2, 3]


@pytest.fixture
def shop():
    shop = generate_shop(120, consumer_key=KEY, consumer_secret=SECRET, products=15)
    server, url = serve(shop)
    yield shop, url
    server.shutdown()
    server.server_close()


def _tenant(engine: Engine, name: str, url: str):
    return make_tenant(
        engine,
        name,
        url=url,
        credentials={"consumer_key": KEY, "consumer_secret": SECRET},
        currency="EUR",
        sync={"birthday_meta_key": "billing_birth_date"},
    )


def _exports(engine: Engine, tenant_id: int) -> dict[str, list[dict]]:
    """The tenant's orders, products and contacts as ``relance export`` gives them (not the time each
    contact was stored)."""
    with engine.connect() as conn:
        contacts = [{k: v for k, v in c.items() if k != "created_at"} for c in iter_contacts(conn, tenant_id, now=NOW)]
        return {"orders": list(iter_orders(conn, tenant_id)), "products": list(iter_products(conn, tenant_id)),
                "contacts": contacts}  # fmt: skip


def test_a_first_sync_in_a_child_process_stores_what_a_thread_stores(engine, shop, monkeypatch):
    _, url = shop
    threaded = _tenant(engine, "threaded", url)
    assert run_sync(engine, threaded, from_tenant(threaded.config, page_size=25), clock=lambda: NOW).ok
    monkeypatch.setattr(sync_module, "PRODUCER", "process")
    forked = _tenant(engine, "forked", url)
    connector = from_tenant(forked.config, page_size=25)
    http = connector.client.http
    http.get("products", {"per_page": 1})  # the parent's session holds a connection to the shop: the child's too
    report = run_sync(engine, forked, connector, clock=lambda: NOW)
    assert report.ok, report.as_dict()
    assert report.resources[Resource.ORDERS].created == 120
    assert _exports(engine, forked.id) == _exports(engine, threaded.id)
    http.get("products", {"per_page": 1})  # which the parent can still use
    assert multiprocessing.active_children() == []


def test_a_child_killed_midway_loses_nothing_and_the_next_sync_finishes(engine, shop, monkeypatch):
    fake, url = shop
    reference = _tenant(engine, "reference", url)
    run_sync(engine, reference, from_tenant(reference.config, page_size=25), clock=lambda: NOW)
    monkeypatch.setattr(sync_module, "PRODUCER", "process")
    tenant = _tenant(engine, "killed", url)
    connector = from_tenant(tenant.config, page_size=25)
    fetch = connector.fetch

    def dies_after_two_pages(resource, cursor, now):
        for n, page in enumerate(fetch(resource, cursor, now)):
            if resource is Resource.ORDERS and n == 2:
                os.kill(os.getpid(), signal.SIGKILL)  # in the child: the parent goes on
            yield page

    monkeypatch.setattr(connector, "fetch", dies_after_two_pages)
    report = run_sync(engine, tenant, connector, clock=lambda: NOW)
    orders = report.resources[Resource.ORDERS]
    assert not report.ok and "ended before its last page" in (orders.error or "")
    assert orders.pages == 2 and orders.created >= 25  # the two pages sent before, stored with their cursor
    monkeypatch.setattr(connector, "fetch", fetch)
    again = run_sync(engine, tenant, connector, clock=lambda: NOW)
    assert again.ok and orders.created + again.resources[Resource.ORDERS].created == 120
    assert _exports(engine, tenant.id)["orders"] == _exports(engine, reference.id)["orders"]


def test_the_producer_is_chosen_by_the_environment_and_a_typo_is_a_clear_error(tmp_path):
    env = {"RELANCE_DATA_DIR": str(tmp_path), "RELANCE_SECRET_KEY": "k" * 32}
    assert Settings.from_env(env).sync_producer is None  # the platform's default: sync.PRODUCER
    assert Settings.from_env({**env, "RELANCE_SYNC_PRODUCER": " Thread "}).sync_producer == "thread"
    with pytest.raises(ConfigError, match="RELANCE_SYNC_PRODUCER must be process .* or thread, not 'threads'"):
        Settings.from_env({**env, "RELANCE_SYNC_PRODUCER": "threads"})


def test_a_sync_told_to_use_a_thread_uses_one(engine, shop, monkeypatch):
    _, url = shop
    monkeypatch.setattr(sync_module, "PRODUCER", "process")
    used = []
    monkeypatch.setattr(sync_module, "Prefetch", lambda *a, **kw: used.append("thread") or Prefetch(*a, **kw))
    tenant = _tenant(engine, "told", url)
    assert run_sync(engine, tenant, from_tenant(tenant.config), clock=lambda: NOW, producer="thread").ok
    assert used and set(used) == {"thread"}


def test_forgetting_connections_keeps_sessions_usable(shop):
    from connectors.http import HttpClient, forget_connections

    _, url = shop
    client = HttpClient(base_url=url, tenant="t")
    assert client.session.get(url + "/wp-json/", timeout=5).status_code in (200, 401, 404)
    forget_connections()
    assert client.session.get(url + "/wp-json/", timeout=5).status_code in (200, 401, 404)
    assert isinstance(client.session, requests.Session)


def test_a_daemon_process_which_may_not_fork_reads_the_shop_in_a_thread():
    context = multiprocessing.get_context("fork")
    found = context.Queue()
    child = context.Process(target=lambda: found.put(sync_module._producer("process").__name__), daemon=True)
    child.start()
    assert found.get(timeout=30) == "Prefetch"
    child.join(10)
    assert sync_module._producer("process") is ForkedPrefetch and sync_module._producer("thread") is Prefetch
