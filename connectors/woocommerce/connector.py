"""The WooCommerce connector: customers, orders and products changed since a cursor.

Orders and products are read in keyset pages: ``orderby=modified&order=asc``
(WooCommerce adds the id as a tie-breaker), ``modified_after`` one second
before the cursor with ``dates_are_gmt=true`` (the filter is a strict "after"
on whole seconds, so every record modified at the cursor's second or later is
read again), and ``modified_before`` = the sync's frozen ``now``. The cursor
is only a time: no id is ever excluded, so a record that changes after it was
read (the last one of a sync included) is read by the next sync, and
re-reading the same state is a duplicate event that changes nothing. When a
page moves the cursor to a later second, the next page is page 1 of the query
moved on (an order modified during the sync cannot shift a page under us, and
a 100,000-order shop costs no growing offsets); when a whole page shares the
cursor's second, the next page is the next page number. Within one run a
record state already read is not counted again. ``X-WP-TotalPages`` (or the
``Link`` next header, or a full page) says whether more follows; ``[]`` ends.

Customers have no modification filter in the REST API (only ``orderby`` id,
name, registered_date). An incremental run reads the newest registrations
(``orderby=registered_date&order=desc``) down to the cursor; once a day
(``CUSTOMER_SCAN_EVERY``) a full scan by id picks up profile changes
(birthdays, names). Re-reading an unchanged customer is a duplicate event and
changes nothing. Guests are not customers: they come with their orders.

WooCommerce has no cart API for admins: carts come from the tracker and
webhooks, so this connector syncs customers, orders and products.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connectors.base import Page, Resource, Skipped
from connectors.http import request_threads
from connectors.settings import ShopSettings
from connectors.woocommerce import mapping
from connectors.woocommerce.client import MAX_PAGE_SIZE, ListPage, WooClient
from connectors.woocommerce.mapping import MappingError, WooContext
from core import normalize
from core.errors import ConfigError
from core.model import Event, Platform
from core.tenants import SyncSettings, TenantConfig

RESOURCES = (Resource.PRODUCTS, Resource.CUSTOMERS, Resource.ORDERS)
CUSTOMER_SCAN_EVERY = timedelta(hours=24)
_COLLECTIONS = {Resource.ORDERS: "orders", Resource.PRODUCTS: "products", Resource.CUSTOMERS: "customers"}
Mapper = Callable[[dict[str, Any], WooContext], list[Event]]


#: How far before the cursor the next query of a keyset sync starts (``modified_after``), with a margin.
_REREAD = timedelta(seconds=2)


def _wc_time(when: datetime) -> str:
    """A UTC time as WooCommerce's date filters take it with dates_are_gmt=true (no offset)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _parse_time(value: Any) -> datetime | None:
    return normalize.timestamp(value) if value else None


@dataclass(frozen=True)
class KeysetCursor:
    """Position in a list sorted by modification time: the newest modification time read.

    Cursors saved before this form also carried ``ids`` (then sent as ``exclude``, which made a
    later change to those records invisible to incremental syncs): they are read and ignored.
    """

    modified: datetime | None = None

    @classmethod
    def decode(cls, raw: str | None) -> KeysetCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(modified=_parse_time(data.get("modified")))

    def encode(self) -> str:
        return json.dumps({"modified": normalize.isoformat(self.modified)}, separators=(",", ":"))

    def advance(self, modified: datetime) -> KeysetCursor:
        if self.modified is None or modified > self.modified:
            return KeysetCursor(modified)
        return self


@dataclass(frozen=True)
class CustomerCursor:
    """Newest registration seen, last finished full scan, and the page a running scan reached."""

    created: datetime | None = None
    scanned_at: datetime | None = None
    scan_started: datetime | None = None
    scan_page: int = 0

    @classmethod
    def decode(cls, raw: str | None) -> CustomerCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            created=_parse_time(data.get("created")),
            scanned_at=_parse_time(data.get("scanned_at")),
            scan_started=_parse_time(data.get("scan_started")),
            scan_page=int(data.get("scan_page") or 0),
        )

    def encode(self) -> str:
        data = {
            "created": normalize.isoformat(self.created),
            "scanned_at": normalize.isoformat(self.scanned_at),
            "scan_started": normalize.isoformat(self.scan_started),
            "scan_page": self.scan_page,
        }
        return json.dumps(data, separators=(",", ":"))


def _has_more(page: ListPage, page_no: int, page_size: int) -> bool:
    if page.total_pages is not None:
        return page.total_pages > page_no
    if page.next_url:
        return True
    return len(page.records) >= page_size


def _record_id(record: Any) -> str:
    raw = record.get("id") if isinstance(record, dict) else None
    return str(raw) if raw not in (None, "") else "?"


def _one(func: Callable[[dict[str, Any], WooContext], Event]) -> Mapper:
    return lambda payload, ctx: [func(payload, ctx)]


class WooConnector:
    """Reads one WooCommerce shop (``connectors.base.Connector``)."""

    platform = Platform.WOOCOMMERCE

    def __init__(
        self,
        client: WooClient,
        ctx: WooContext,
        page_size: int = MAX_PAGE_SIZE,
        concurrent: int = SyncSettings.concurrent_requests,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        #: Requests in flight at most: 2 or more lets the next page come while one is mapped.
        self.concurrent = concurrent

    def resources(self) -> tuple[Resource, ...]:
        return RESOURCES

    def cursor_since(self, resource: Resource, since: datetime) -> str:
        if resource is Resource.CUSTOMERS:
            # Registrations after ``since``; a ``since`` older than a day means a full scan.
            return CustomerCursor(created=since, scanned_at=since).encode()
        return KeysetCursor(modified=since).encode()

    def fetch(self, resource: Resource, cursor: str | None, now: datetime) -> Iterator[Page]:
        if resource is Resource.ORDERS:
            return self._fetch_keyset(resource, cursor, now, _one(mapping.map_order))
        if resource is Resource.PRODUCTS:
            return self._fetch_keyset(resource, cursor, now, mapping.map_product)
        if resource is Resource.CUSTOMERS:
            return self._fetch_customers(cursor, now)
        raise ConfigError(f"WooCommerce cannot sync {resource.value} (it has no cart API; carts come from the tracker)")

    def shop_settings(self) -> ShopSettings:
        """The shop's currency (WooCommerce's general settings) and time zone (WordPress's public REST
        index: ``timezone_string``, empty when the site is set to a UTC offset). WordPress does not
        say its locale to an API key. Raises ConnectorError when the shop cannot be read."""
        http = replace(self.client.http, max_tries=1)  # a check, not worth retrying
        data, _ = http.get_json("settings/general")
        values = {i.get("id"): i.get("value") for i in data if isinstance(i, dict)} if isinstance(data, list) else {}
        site = http.base_url.rsplit("/wp-json/", 1)[0]
        index_client = replace(http, base_url=site + "/wp-json", auth=None, base_params={})
        index, _ = index_client.get_json("")
        timezone = index.get("timezone_string") if isinstance(index, dict) else None
        return ShopSettings.parsed(currency=values.get("woocommerce_currency"), timezone=timezone)

    # --- orders and products ------------------------------------------------------------------

    def _fetch_keyset(self, resource: Resource, cursor: str | None, now: datetime, mapper: Mapper) -> Iterator[Page]:
        """Pages of records modified after the cursor. The next page is asked for (in a thread) as soon as
        this page's modification times say where it starts, so that it is on its way while this page is
        mapped: a real shop takes as long to answer as the mapping takes."""
        state = KeysetCursor.decode(cursor)
        read: set[tuple[str, datetime]] = set()  # the states this run already counted
        page_no = 1
        with request_threads(min(self.concurrent, 2), "relance-woocommerce") as pool:
            asked: Future[ListPage] | None = pool.submit(
                self.client.fetch_page, _COLLECTIONS[resource], self._keyset_params(state, page_no, now)
            )
            while asked is not None:
                page = asked.result()
                if not page.records:
                    return
                skipped: list[tuple[int, Skipped]] = []
                todo: list[tuple[int, str, Any]] = []
                fetched = 0
                before = state
                for index, record in enumerate(page.records):
                    record_id = _record_id(record)
                    try:
                        if not isinstance(record, dict):
                            raise MappingError(f"{resource.value[:-1]} {record_id}: not a JSON object")
                        modified = mapping.modified_at(record, self.ctx)
                    except MappingError as exc:
                        fetched += 1
                        skipped.append((index, Skipped(resource, record_id, str(exc))))
                        continue
                    if (record_id, modified) in read:
                        continue
                    read.add((record_id, modified))
                    fetched += 1
                    todo.append((index, record_id, record))
                    state = state.advance(modified)
                asked = None
                if _has_more(page, page_no, self.page_size):
                    if state != before and state.modified is not None:
                        # The next query starts a second before the cursor: a state older than that cannot
                        # come back, so it is forgotten (the run's memory stays that of a page).
                        floor = state.modified - _REREAD
                        read = {seen for seen in read if seen[1] >= floor}
                    # A page that moved the cursor: page 1 of the query moved on. A page all at the cursor's
                    # second (or of unreadable records) cannot move it: the next page number instead.
                    page_no = 1 if state != before else page_no + 1
                    asked = pool.submit(
                        self.client.fetch_page, _COLLECTIONS[resource], self._keyset_params(state, page_no, now)
                    )
                events: list[Event] = []
                groups: list[int] = []
                for index, record_id, record in todo:
                    try:
                        found = mapper(record, self.ctx)
                    except MappingError as exc:
                        skipped.append((index, Skipped(resource, record_id, str(exc))))
                        continue
                    events.extend(found)
                    groups.append(len(found))
                skipped.sort(key=lambda entry: entry[0])  # in the page's order
                yield Page(
                    events=events,
                    cursor=state.encode(),
                    fetched=fetched,
                    skipped=[entry for _, entry in skipped],
                    groups=groups,
                )

    def _keyset_params(self, state: KeysetCursor, page_no: int, now: datetime) -> dict[str, Any]:
        params: dict[str, Any] = {
            "per_page": self.page_size,
            "orderby": "modified",
            "order": "asc",
            "dates_are_gmt": "true",
            "modified_before": _wc_time(now),
        }
        if state.modified is not None:
            params["modified_after"] = _wc_time(state.modified - timedelta(seconds=1))
        if page_no > 1:
            params["page"] = page_no
        return params

    # --- customers ----------------------------------------------------------------------------

    def _fetch_customers(self, cursor: str | None, now: datetime) -> Iterator[Page]:
        state = CustomerCursor.decode(cursor)
        due = state.scanned_at is None or now - state.scanned_at >= CUSTOMER_SCAN_EVERY
        if state.scan_started is not None or due:
            return self._scan_customers(state, now)
        return self._new_customers(state)

    def _map_customers(
        self, records: list[Any], newest: datetime | None, oldest: datetime | None
    ) -> tuple[list[Event], list[Skipped], datetime | None, bool]:
        """Map a page; return events, skipped, the newest creation time, and whether a record older
        than ``oldest`` was met (where an incremental run stops)."""
        events: list[Event] = []
        skipped: list[Skipped] = []
        reached_old = False
        for record in records:
            record_id = _record_id(record)
            try:
                if not isinstance(record, dict):
                    raise MappingError(f"customer {record_id}: not a JSON object")
                created = mapping.created_at(record, self.ctx)
                if created is not None and oldest is not None and created < oldest:
                    reached_old = True
                    continue
                if created is not None and (newest is None or created > newest):
                    newest = created
                events.append(mapping.map_customer(record, self.ctx))
            except MappingError as exc:
                skipped.append(Skipped(Resource.CUSTOMERS, record_id, str(exc)))
        return events, skipped, newest, reached_old

    def _scan_customers(self, state: CustomerCursor, now: datetime) -> Iterator[Page]:
        """Every customer, page by page in id order; the next page is asked for while one is mapped."""
        started = state.scan_started or now
        page_no = state.scan_page + 1
        newest = state.created
        with request_threads(min(self.concurrent, 2), "relance-woocommerce") as pool:
            asked: Future[ListPage] | None = pool.submit(self._customers_page, page_no)
            while asked is not None:
                page = asked.result()
                last = not page.records or not _has_more(page, page_no, self.page_size)
                asked = None if last else pool.submit(self._customers_page, page_no + 1)
                events, skipped, newest, _ = self._map_customers(page.records, newest, None)
                if last:
                    cursor = CustomerCursor(created=newest, scanned_at=started)
                else:
                    cursor = replace(state, created=newest, scan_started=started, scan_page=page_no)
                yield Page(events=events, cursor=cursor.encode(), fetched=len(page.records), skipped=skipped)
                page_no += 1

    def _customers_page(self, page_no: int) -> ListPage:
        return self.client.fetch_page(
            "customers", {"per_page": self.page_size, "page": page_no, "orderby": "id", "order": "asc"}
        )

    def _new_customers(self, state: CustomerCursor) -> Iterator[Page]:
        page_no = 1
        newest = state.created
        while True:
            page = self.client.fetch_page(
                "customers",
                {"per_page": self.page_size, "page": page_no, "orderby": "registered_date", "order": "desc"},
            )
            events, skipped, newest, reached_old = self._map_customers(page.records, newest, state.created)
            last = reached_old or not page.records or not _has_more(page, page_no, self.page_size)
            # Newest first: the cursor can only move once the run reached what it had already seen.
            cursor = replace(state, created=newest).encode() if last else None
            yield Page(events=events, cursor=cursor, fetched=len(page.records), skipped=skipped)
            if last:
                return
            page_no += 1


def from_tenant(
    config: TenantConfig,
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] | None = None,
    page_size: int | None = None,
    **_options: Any,
) -> WooConnector:
    """Build the connector of a WooCommerce tenant; ConfigError when its API keys are missing."""
    key = config.credentials.get("consumer_key")
    secret = config.credentials.get("consumer_secret")
    if not key or not secret:
        raise ConfigError(
            f"tenant {config.name}: credentials.consumer_key and credentials.consumer_secret are needed to sync "
            "WooCommerce; create a Read key under WooCommerce > Settings > Advanced > REST API and add it to the tenant file"
        )
    client = WooClient(
        config.url,
        key,
        secret,
        tenant=config.name,
        query_string_auth=bool(config.credentials.get("query_string_auth")),
        timeout=config.sync.timeout_seconds,
        session=session,
        sleep=sleep,
    )
    size = page_size or config.sync.page_size or MAX_PAGE_SIZE
    return WooConnector(
        client, WooContext.from_tenant(config), page_size=size, concurrent=config.sync.concurrent_requests
    )
