"""The PrestaShop connector: customers, products, orders and open carts from the webservice.

``fetch`` reads the records whose ``date_upd`` moved since the cursor, up to
the sync's frozen ``now`` (in the shop's time zone, the tenant's
``timezone``), a page at a time; looks up what the mapping needs for that page
in bulk (addresses of its customers, the customers of its orders, the
products of its rows, the orders of its carts); and yields the page's events
with the cursor that follows it. A record that cannot be mapped is logged by
id, skipped and counted. One connector object serves one sync run: reference
data is cached on it for the run.

A page costs up to three requests (the page, then its customers and addresses
by id), each a round trip to a PHP server that takes 0.1-0.5 s on a real shop.
So that a sync is not three times the download, the next page is asked for while
the current one's lookups run, and an order page's two lookups run side by side:
at most ``sync.concurrent_requests`` requests to the shop at a time (3 unless
the tenant file says otherwise; 1: one after another), pages still yielded in
order, and an error raised after the pages before it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from connectors.base import Page, Resource, Skipped
from connectors.http import HttpClient, request_threads
from connectors.prestashop import mapping
from connectors.prestashop.client import AUTH_HINT, PrestaShopClient
from connectors.prestashop.lookups import ShopContext
from connectors.prestashop.paging import Position
from connectors.prestashop.reference import ADDRESS_FIELDS, CUSTOMER_FIELDS, ShopData
from connectors.prestashop.values import RecordError, ident, shop_time
from connectors.settings import ShopSettings
from core.errors import ConfigError, EventError
from core.model import Event, Platform
from core.tenants import SyncSettings, TenantConfig

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 100
#: A first sync of carts reads only the carts changed in this period: older ones are history.
CART_LOOKBACK = timedelta(days=30)
#: The customer fields read: everything the mapping uses, never ``passwd``, ``secure_key`` or tokens.
CUSTOMER_LIST_FIELDS = (
    "[id,id_default_group,id_lang,id_gender,email,firstname,lastname,birthday,newsletter,"
    "newsletter_date_add,optin,is_guest,deleted,active,date_add,date_upd]"
)
API_RESOURCES = {
    Resource.CUSTOMERS: "customers",
    Resource.PRODUCTS: "products",
    Resource.ORDERS: "orders",
    Resource.CARTS: "carts",
}

#: A page's events, its skipped records, and how many events each mapped record gave (``Page.groups``).
PageResult = tuple[list[Event], list[Skipped], list[int]]


class PrestaShopConnector:
    """Implements ``connectors.base.Connector`` for a PrestaShop 1.7 / 8.x webservice."""

    platform = Platform.PRESTASHOP

    def __init__(
        self,
        client: PrestaShopClient,
        ctx: ShopContext,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrent: int = SyncSettings.concurrent_requests,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.page_size = page_size
        self.concurrent = concurrent
        self.shop = ShopData(client, ctx)
        self._pool: Executor | None = None  # while ``fetch`` runs: its requests' threads

    @property
    def tenant(self) -> str:
        return self.client.tenant

    def resources(self) -> tuple[Resource, ...]:
        # Orders before carts, so that a cart that became an order is seen as converted.
        return (Resource.CUSTOMERS, Resource.PRODUCTS, Resource.ORDERS, Resource.CARTS)

    def cursor_since(self, resource: Resource, since: datetime) -> str:
        return Position(shop_time(since, self.ctx.timezone), 0, 0).encode()

    def fetch(self, resource: Resource, cursor: str | None, now: datetime) -> Iterator[Page]:
        handlers: dict[Resource, tuple[str, Callable[[list[Any]], PageResult]]] = {
            Resource.CUSTOMERS: (CUSTOMER_LIST_FIELDS, self._customers),
            Resource.PRODUCTS: ("full", self._products),
            Resource.ORDERS: ("full", self._orders),
            Resource.CARTS: ("full", self._carts),
        }
        if resource not in handlers:
            raise ConfigError(f"PrestaShop has no {resource.value} to sync")
        display, handle = handlers[resource]
        # Each run reads the cursor's second again (date_upd from that second, from the first id): a
        # record changed at that second after the last sync read it is not left behind. Within the run,
        # ``Position`` moves past what it stored.
        position = Position(Position.decode(cursor, self.tenant, resource.value).date_upd, 0, 0)
        if cursor is None and resource is Resource.CARTS:
            position = Position(shop_time(now - CART_LOOKBACK, self.ctx.timezone), 0, 0)
        until = shop_time(now, self.ctx.timezone)
        if position.date_upd >= until:
            return
        api = API_RESOURCES[resource]
        with request_threads(self.concurrent, "relance-prestashop") as pool:
            self._pool = pool
            try:
                offset = position.offset(self.page_size)
                asked = pool.submit(self.client.changed, api, position.date_upd, until, offset, self.page_size, display)
                while asked is not None:
                    records = asked.result()
                    fresh = [record for record in records if not position.is_stored(record)]
                    position = position.advance(records, offset)
                    asked = None
                    if len(records) >= self.page_size and position.date_upd < until:
                        # The next page is on its way while this one's lookups run.
                        offset = position.offset(self.page_size)
                        asked = pool.submit(
                            self.client.changed, api, position.date_upd, until, offset, self.page_size, display
                        )
                    events, skipped, groups = handle(fresh) if fresh else ([], [], [])
                    yield Page(
                        events=events, cursor=position.encode(), fetched=len(fresh), skipped=skipped, groups=groups
                    )
            finally:
                self._pool = None

    def _side_by_side(self, first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
        """``first()`` and ``second()``, the second in one of ``fetch``'s threads (in turn outside a fetch)."""
        if self._pool is None:
            return first(), second()
        other: Future[Any] = self._pool.submit(second)
        try:
            mine = first()
        except BaseException:
            other.cancel()
            raise
        return mine, other.result()

    def shop_settings(self) -> ShopSettings:
        """The shop's default currency, time zone and default language, from its ``configurations``
        (the key needs View on ``configurations``, ``currencies`` and ``languages``). Raises
        ConnectorError (ConnectorAuthError when the key may not read them)."""
        names = "[PS_CURRENCY_DEFAULT|PS_TIMEZONE|PS_LANG_DEFAULT]"
        found = replace(self.client.http, max_tries=1).get_json(
            "configurations", {"display": "[name,value]", "filter[name]": names}
        )[0]
        rows = found.get("configurations", []) if isinstance(found, Mapping) else []
        values = {r.get("name"): r.get("value") for r in rows if isinstance(r, Mapping)}
        self.shop.ensure("currencies", "languages")
        return ShopSettings.parsed(
            currency=self.shop.currencies.get(str(values.get("PS_CURRENCY_DEFAULT") or "")),
            timezone=values.get("PS_TIMEZONE"),
            locale=self.shop.languages.get(str(values.get("PS_LANG_DEFAULT") or "")),
        )

    # --- one handler per resource: map a page of fresh records -----------------

    def _each(
        self, resource: Resource, records: Sequence[Any], build: Callable[[Mapping[str, Any]], list[Event]]
    ) -> PageResult:
        events: list[Event] = []
        skipped: list[Skipped] = []
        groups: list[int] = []
        for record in records:
            if not isinstance(record, Mapping):
                skipped.append(Skipped(resource, "?", "not a JSON object"))
                continue
            try:
                found = build(record)
            except (RecordError, EventError) as exc:
                skipped.append(Skipped(resource, str(record.get("id", "?"))[:40], str(exc)))
                continue
            events.extend(found)
            groups.append(len(found))
        return events, skipped, groups

    def _customers(self, records: list[Any]) -> PageResult:
        self.shop.ensure("countries", "languages", "groups")
        ids = [i for r in records if isinstance(r, Mapping) and (i := ident(r.get("id")))]
        addresses: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
        for address in self.client.by_ids("addresses", ids, field="id_customer", display=ADDRESS_FIELDS):
            if isinstance(address, Mapping) and ident(address.get("id_customer")):
                addresses[ident(address.get("id_customer")) or ""].append(address)
        lookups = self.shop.lookups()
        return self._each(
            Resource.CUSTOMERS,
            records,
            lambda r: mapping.customer_events(r, addresses.get(ident(r.get("id")) or "", []), lookups, self.ctx),
        )

    def _products(self, records: list[Any]) -> PageResult:
        products = [r for r in records if isinstance(r, Mapping)]
        self.shop.prepare_products(products)
        stock = self.shop.stock(i for r in products if (i := ident(r.get("id"))))
        for record in products:
            self.shop.remember_product(record)
        lookups = self.shop.lookups()
        return self._each(
            Resource.PRODUCTS,
            records,
            lambda r: [mapping.product_event(r, stock.get(ident(r.get("id")) or ""), lookups, self.ctx)],
        )

    def _customers_by_id(self, records: Sequence[Any]) -> dict[str, Mapping[str, Any]]:
        ids = {i for r in records if isinstance(r, Mapping) and (i := ident(r.get("id_customer")))}
        found = self.client.by_ids("customers", ids, display=CUSTOMER_FIELDS)
        return {ident(c.get("id")) or "": c for c in found if isinstance(c, Mapping)}

    def _orders(self, records: list[Any]) -> PageResult:
        self.shop.ensure("currencies", "order_states", "countries")
        orders = [r for r in records if isinstance(r, Mapping)]
        address_ids = {i for r in orders if (i := ident(r.get("id_address_invoice")))}
        customers, found = self._side_by_side(
            lambda: self._customers_by_id(orders),
            lambda: self.client.by_ids("addresses", address_ids, display=ADDRESS_FIELDS),
        )
        addresses = {ident(a.get("id")) or "": a for a in found if isinstance(a, Mapping)}
        self.shop.ensure_products(ident(row.get("product_id")) for r in orders for row in _rows(r, "order_rows"))
        lookups = self.shop.lookups()

        def build(record: Mapping[str, Any]) -> list[Event]:
            customer = customers.get(ident(record.get("id_customer")) or "")
            address = addresses.get(ident(record.get("id_address_invoice")) or "")
            return [mapping.order_event(record, customer, address, lookups, self.ctx)]

        return self._each(Resource.ORDERS, records, build)

    def _carts(self, records: list[Any]) -> PageResult:
        """Open carts of known customers; a cart some order refers to is not open any more."""
        self.shop.ensure("currencies")
        carts = [r for r in records if isinstance(r, Mapping)]
        cart_ids = [i for r in carts if (i := ident(r.get("id")))]
        ordered = {
            ident(o.get("id_cart"))
            for o in self.client.by_ids("orders", cart_ids, field="id_cart", display="[id,id_cart]")
            if isinstance(o, Mapping)
        }
        open_carts = [r for r in carts if ident(r.get("id")) not in ordered and ident(r.get("id_customer"))]
        customers = self._customers_by_id(open_carts)
        self.shop.ensure_products(ident(row.get("id_product")) for r in open_carts for row in _rows(r, "cart_rows"))
        lookups = self.shop.lookups()

        def build(record: Mapping[str, Any]) -> list[Event]:
            customer = customers.get(ident(record.get("id_customer")) or "")
            if customer is None:
                return []  # a customer the shop no longer has: nobody to remind
            return [mapping.cart_event(record, customer, lookups, self.ctx)]

        return self._each(Resource.CARTS, [r for r in records if not _is_closed(r, ordered)], build)


def _is_closed(record: Any, ordered: set[str | None]) -> bool:
    """An ordered cart, or an anonymous one (no customer): not an open cart Relance can follow up."""
    return isinstance(record, Mapping) and (ident(record.get("id")) in ordered or not ident(record.get("id_customer")))


def _rows(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    associations = record.get("associations")
    rows = associations.get(name) if isinstance(associations, Mapping) else None
    return [row for row in rows if isinstance(row, Mapping)] if isinstance(rows, list) else []


def from_tenant(
    config: TenantConfig,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] | None = None,
    page_size: int | None = None,
    **_options: Any,
) -> PrestaShopConnector:
    """Build the connector of a PrestaShop tenant.

    ``credentials``: ``api_key`` (the webservice key), optional ``language_id``
    (the language of names; default: the first the shop sends) and
    ``query_string_auth`` (send the key as ``?ws_key=`` instead of Basic auth).
    """
    api_key = config.credentials.get("api_key")
    if not api_key:
        raise ConfigError(
            f"tenant {config.name}: credentials.api_key is missing; add the PrestaShop webservice key to the tenant file"
        )
    language_id = config.credentials.get("language_id")
    params = {"output_format": "JSON"}
    auth: tuple[str, str] | None = (str(api_key), "")
    if config.credentials.get("query_string_auth"):
        # For servers that drop the Authorization header (PHP as CGI/FastCGI without CGIPassAuth).
        params["ws_key"] = str(api_key)
        auth = None
    http = HttpClient(
        base_url=config.url.rstrip("/") + "/api",
        tenant=config.name,
        timeout=config.sync.timeout_seconds,
        auth=auth,
        base_params=params,
        session=session or requests.Session(),
        sleep=sleep or time.sleep,
        auth_hint=AUTH_HINT,
    )
    ctx = ShopContext(
        url=config.url.rstrip("/"),
        timezone=ZoneInfo(config.timezone),
        language_id=language_id,
        currency=config.currency,
    )
    size = page_size or config.sync.page_size or DEFAULT_PAGE_SIZE
    return PrestaShopConnector(
        PrestaShopClient(http, language_id), ctx, page_size=size, concurrent=config.sync.concurrent_requests
    )
