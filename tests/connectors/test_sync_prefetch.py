"""``connectors.prefetch``: the next pages of a sync are produced in a thread while one is stored."""

from __future__ import annotations

import itertools
import sys
import threading

import pytest
import responses
from sqlalchemy import update

from connectors import prefetch as prefetch_module
from connectors.base import Resource
from connectors.errors import ConnectorError, SyncLockedError
from connectors.prefetch import Prefetch
from connectors.sync import run_sync
from core.store.sync_state import sync_locks
from tests.conftest import statements_run
from tests.connectors.helpers import fixture_shop, route_shop
from tests.connectors.test_sync import clock, connector, stored_totals, woo  # noqa: F401 - woo is a fixture


class Boom(RuntimeError):
    pass


class Numbers:
    """An endless producer that records what it produced, in which thread, and whether it was closed."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at = fail_at
        self.produced: list[int] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()

    def __call__(self):
        try:
            for number in itertools.count():
                self.threads.add(threading.current_thread().name)
                if number == self.fail_at:
                    raise Boom(f"failed at {number}")
                self.produced.append(number)
                yield number
        finally:
            self.closed.set()


def producers_alive() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("relance-")]


def test_items_come_out_in_order_from_one_producer_thread():
    numbers = Numbers()
    with Prefetch(lambda: itertools.islice(numbers(), 50), depth=2) as pages:
        assert list(pages) == list(range(50))
    assert numbers.threads == {"relance-prefetch"}
    assert producers_alive() == []


def test_an_error_comes_out_after_the_items_produced_before_it():
    numbers = Numbers(fail_at=5)
    got = []
    with pytest.raises(Boom, match="failed at 5"), Prefetch(numbers) as pages:
        for page in pages:
            got.append(page)
    assert got == [0, 1, 2, 3, 4]
    assert producers_alive() == []


@pytest.mark.parametrize("stop", [Boom, KeyboardInterrupt])
def test_a_failing_or_interrupted_consumer_stops_the_producer(stop):
    numbers = Numbers()
    with pytest.raises(stop), Prefetch(numbers, depth=2) as pages:
        for page in pages:
            if page == 3:
                raise stop("store failed")
    assert numbers.closed.is_set() and producers_alive() == []
    # 0..3 consumed, at most 2 waiting in the queue and one more that found the consumer gone
    assert len(numbers.produced) <= 4 + 2 + 1


@pytest.mark.parametrize("depth", [1, 3])
def test_a_slow_consumer_keeps_at_most_depth_items_in_flight(depth):
    numbers = Numbers()
    seen = threading.Event()
    with Prefetch(numbers, depth=depth) as pages:
        for page in pages:
            seen.wait(0.005)  # a slow store: the producer runs ahead and must wait for room
            # the queue holds ``depth``; the producer may hold one more, waiting to put it
            assert len(numbers.produced) - (page + 1) <= depth + 1
            if page == 40:
                break
    assert numbers.closed.is_set() and producers_alive() == []


def test_a_shorter_switch_interval_only_while_a_prefetch_runs():
    before = sys.getswitchinterval()
    with Prefetch(lambda: iter(range(3))) as pages:
        assert sys.getswitchinterval() == min(before, prefetch_module.SWITCH_INTERVAL)
        assert list(pages) == [0, 1, 2]
    assert sys.getswitchinterval() == before
    with pytest.raises(ValueError, match="at least 1"):
        Prefetch(lambda: iter(()), depth=0)


def threaded(real, fail=None):
    """A connector recording the threads its fetch runs in; ``fail(resource, number)`` may raise before a page."""

    class Threaded:
        platform = real.platform
        threads: set[str] = set()

        def resources(self):
            return real.resources()

        def cursor_since(self, resource, since):
            return real.cursor_since(resource, since)

        def fetch(self, resource, cursor, now):
            for number, page in enumerate(real.fetch(resource, cursor, now), start=1):
                self.threads.add(threading.current_thread().name)
                if fail is not None:
                    fail(resource, number)
                yield page

    return Threaded()


def test_a_sync_fetches_in_a_producer_thread_and_stores_every_page(engine, woo):  # noqa: F811
    fetching = threaded(connector(woo, page_size=2))
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, fetching, clock=clock)
    assert report.ok and report.resources[Resource.ORDERS].created == 8
    assert fetching.threads and threading.current_thread().name not in fetching.threads
    assert producers_alive() == []


def test_a_connector_error_stops_the_resource_after_the_pages_before_it(engine, woo):  # noqa: F811
    def fail(resource, number):
        if resource is Resource.ORDERS and number == 4:
            raise ConnectorError("the shop answered 500")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        route_shop(mock, fixture_shop())
        report = run_sync(engine, woo, threaded(connector(woo, page_size=2), fail), clock=clock)
    orders = report.resources[Resource.ORDERS]
    assert "the shop answered 500" in orders.error and orders.pages == 3
    assert sorted(stored_totals(engine, woo.id)) == ["727", "728", "729", "730"]
    assert all(stats.error is None for resource, stats in report.resources.items() if resource is not Resource.ORDERS)
    assert producers_alive() == []


def test_a_store_failure_stops_the_producer(engine, woo):  # noqa: F811
    produced = []

    def steal_first(resource, number):
        produced.append((resource, number))
        if resource is Resource.ORDERS and number == 1:
            with engine.begin() as conn:  # before page 1 is stored: the sync has lost its lease
                conn.execute(update(sync_locks).where(sync_locks.c.tenant_id == woo.id).values(owner="thief"))

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        route_shop(mock, fixture_shop())
        with pytest.raises(SyncLockedError, match="lost its lease"):
            run_sync(engine, woo, threaded(connector(woo, page_size=1), steal_first), clock=clock)
    assert stored_totals(engine, woo.id) == {}
    # 8 order pages exist: the producer stopped a few pages after the failing one
    orders = [number for resource, number in produced if resource is Resource.ORDERS]
    assert orders and max(orders) <= 1 + prefetch_module.DEPTH + 1
    assert producers_alive() == []


def lookups(statements):
    """The statements that look up a page's message ids before storing it (``stored_message_ids``)."""
    return [s for s in statements if s.lstrip().startswith("SELECT events.message_id")]


def test_a_first_sync_looks_up_only_its_first_page_and_a_full_one_every_page(engine, woo):  # noqa: F811
    # On SQLite the store also reads each page's stored message ids itself (``core.store.ingest.ingest_events``,
    # one writer at a time: it reads before it writes): one more lookup per page that stores something.
    store_reads = 1 if engine.dialect.name == "sqlite" else 0
    with responses.RequestsMock() as mock, statements_run(engine) as statements:
        route_shop(mock, fixture_shop())
        first = run_sync(engine, woo, connector(woo, page_size=2), resources=[Resource.ORDERS], clock=clock)
    pages = first.resources[Resource.ORDERS].pages
    # the first page of orders found nothing stored, so the next ones are taken as new
    assert pages > 2 and len(lookups(statements)) == 1 + store_reads * pages
    assert first.resources[Resource.ORDERS].created == 8

    with responses.RequestsMock() as mock, statements_run(engine) as statements:
        route_shop(mock, fixture_shop())
        full = run_sync(engine, woo, connector(woo, page_size=2), resources=[Resource.ORDERS], full=True, clock=clock)
    # every page looked up by the sync; known events never reach the store
    assert len(lookups(statements)) == full.resources[Resource.ORDERS].pages
    assert full.resources[Resource.ORDERS].unchanged == full.resources[Resource.ORDERS].fetched
