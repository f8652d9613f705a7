"""The Magento 2 connector: products, customers, quotes and orders changed since a cursor.

Every resource is read the same way (``connectors.magento.paging``): keyset
pages on (``updated_at``, ``entity_id``) up to the sync's frozen ``now``
less a minute, the cursor saved with each page. Quotes are filtered to the
active ones (``is_active`` = 1): a converted quote is closed by its order,
whose ``cart_id`` is the quote id.

What Magento gives as ids is named once per sync by lookups (each cached for
the run): category names and brand labels for products, product ids of SKUs
(cross-sells and quote lines are linked by SKU) and the parent of a
configurable's child (quote lines name the child). A lookup the integration
is not allowed to make is logged once and left out; the records still sync.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import requests

from connectors.base import Page, Resource, Skipped
from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.http import decode_json, request_threads
from connectors.magento import mapping, products
from connectors.magento.client import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Filter, MagentoClient
from connectors.magento.mapping import ProductRefs
from connectors.magento.paging import SORT, Keyset, settled_until
from connectors.magento.products import CatalogRefs
from connectors.magento.values import MagentoContext, MappingError, modified_at
from connectors.settings import ShopSettings
from core.errors import ConfigError
from core.model import Event, Platform
from core.tenants import SyncSettings, TenantConfig

log = logging.getLogger(__name__)

RESOURCES = (Resource.PRODUCTS, Resource.CUSTOMERS, Resource.CARTS, Resource.ORDERS)
PATHS = {
    Resource.PRODUCTS: "products",
    Resource.CUSTOMERS: "customers/search",
    Resource.CARTS: "carts/search",
    Resource.ORDERS: "orders",
}
ID_KEYS = {Resource.ORDERS: "entity_id"}
#: Filter groups added to a resource's keyset filter.
EXTRA_GROUPS: dict[Resource, list[list[Filter]]] = {Resource.CARTS: [[Filter("is_active", "1")]]}
#: SKUs per ``sku in (...)`` lookup: keeps URLs well under server limits.
SKUS_PER_LOOKUP = 50
#: Root levels of the category tree ("Root Catalog", each store's "Default Category").
ROOT_CATEGORY_LEVELS = 1
PageMapper = Callable[[list[dict[str, Any]]], tuple[list[Event], list[Skipped]]]


def _record_position(record: Any, resource: Resource) -> tuple[str, datetime, int]:
    """(id as text, updated_at, id as int) of a record; MappingError when it has no usable id or time."""
    key = ID_KEYS.get(resource, "id")
    raw = record.get(key) if isinstance(record, dict) else None
    shown = str(raw) if raw not in (None, "") else "?"
    if not isinstance(record, dict):
        raise MappingError(f"{resource.value[:-1]} {shown}: not a JSON object")
    try:
        number = int(str(raw))
    except ValueError as exc:
        raise MappingError(f"{resource.value[:-1]} {shown}: {key} is not a number") from exc
    return shown, modified_at(record, f"{resource.value[:-1]} {shown}"), number


@dataclass
class _Lookups:
    """Names looked up for one fetch (one sync run of one resource)."""

    client: MagentoClient
    brand_attribute: str
    page_size: int
    categories: dict[str, str] | None = None
    brands: dict[str, str] | None = None
    ids_by_sku: dict[str, str] = field(default_factory=dict)
    missing_skus: set[str] = field(default_factory=set)
    parents: dict[str, str] | None = None
    refused: set[str] = field(default_factory=set)

    def _optional(self, what: str, consequence: str, load: Callable[[], dict[str, str]]) -> dict[str, str]:
        try:
            return load()
        except ConnectorAuthError as exc:
            if what not in self.refused:
                self.refused.add(what)
                log.warning("%s; %s until the integration may read %s", exc, consequence, what)
            return {}

    def category_names(self) -> dict[str, str]:
        if self.categories is None:
            self.categories = self._optional("categories", "products sync without categories", self._load_categories)
        return self.categories

    def _load_categories(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for page in self.client.iter_pages("categories/list", sort=[("entity_id", "ASC")], page_size=MAX_PAGE_SIZE):
            for item in page.items:
                if not isinstance(item, dict) or item.get("id") in (None, "") or not item.get("name"):
                    continue
                level = item.get("level")
                if isinstance(level, int) and level <= ROOT_CATEGORY_LEVELS:
                    continue
                names[str(item["id"])] = str(item["name"])
        return names

    def brand_labels(self) -> dict[str, str]:
        if self.brands is None:
            self.brands = self._optional("product attributes", "products sync without brands", self._load_brands)
        return self.brands

    def _load_brands(self) -> dict[str, str]:
        try:
            return self.client.attribute_options(self.brand_attribute)
        except ConnectorAuthError:
            raise
        except ConnectorError as exc:
            if "HTTP 404" not in str(exc):
                raise
            log.warning(
                "tenant %s: the shop has no product attribute %r for brands; set sync.brand_attribute "
                "in the tenant file to the attribute that holds them",
                self.client.tenant,
                self.brand_attribute,
            )
            return {}

    def product_ids(self, skus: Sequence[str]) -> dict[str, str]:
        """SKU -> product id for ``skus`` (looked up in batches, each SKU once per run)."""
        wanted = [s for s in dict.fromkeys(skus) if s not in self.ids_by_sku and s not in self.missing_skus]
        wanted = [s for s in wanted if "," not in s]  # an "in" filter cannot hold a SKU with a comma
        for start in range(0, len(wanted), SKUS_PER_LOOKUP):
            chunk = wanted[start : start + SKUS_PER_LOOKUP]
            found = self._optional("products", "SKUs stay without product ids", lambda c=chunk: self._load_ids(c))
            self.ids_by_sku.update(found)
            self.missing_skus.update(s for s in chunk if s not in found)
        return self.ids_by_sku

    def _load_ids(self, skus: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        groups = [[Filter("sku", ",".join(skus), "in")]]
        for page in self.client.iter_pages(
            "products", groups, [("entity_id", "ASC")], self.page_size, fields="items[id,sku],total_count"
        ):
            for item in page.items:
                if isinstance(item, dict) and item.get("sku") and item.get("id") not in (None, ""):
                    found[str(item["sku"])] = str(item["id"])
        return found

    def parent_ids(self) -> dict[str, str]:
        """Child product id -> configurable parent id (every configurable, read once per run)."""
        if self.parents is None:
            self.parents = self._optional("products", "cart lines keep the variant's id", self._load_parents)
        return self.parents

    def _load_parents(self) -> dict[str, str]:
        parents: dict[str, str] = {}
        groups = [[Filter("type_id", "configurable")]]
        fields = "items[id,extension_attributes[configurable_product_links]],total_count"
        for page in self.client.iter_pages("products", groups, [("entity_id", "ASC")], MAX_PAGE_SIZE, fields=fields):
            for item in page.items:
                extension = item.get("extension_attributes") if isinstance(item, dict) else None
                links = extension.get("configurable_product_links") if isinstance(extension, dict) else None
                for child in links if isinstance(links, list) else []:
                    parents.setdefault(str(child), str(item["id"]))
        return parents


class MagentoConnector:
    """Reads one Magento 2 shop (``connectors.base.Connector``)."""

    platform = Platform.MAGENTO

    def __init__(
        self,
        client: MagentoClient,
        ctx: MagentoContext,
        page_size: int = DEFAULT_PAGE_SIZE,
        concurrent: int = SyncSettings.concurrent_requests,
    ) -> None:
        self.client = client
        self.ctx = ctx
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        #: Requests in flight at most: 2 or more lets the next page come while one is mapped.
        self.concurrent = concurrent

    def shop_settings(self) -> ShopSettings:
        """The store's base currency, time zone and locale (``store/storeConfigs``; the first store
        view, or the one the tenant's scope names). Raises ConnectorError."""
        data = decode_json(replace(self.client.http, max_tries=1).get("store/storeConfigs"))  # a check: one try
        configs = [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []
        if not configs:
            return ShopSettings()
        scope = getattr(self.ctx, "scope", None)
        chosen = next((c for c in configs if scope and c.get("code") == scope), configs[0])
        return ShopSettings.parsed(
            currency=chosen.get("base_currency_code"), timezone=chosen.get("timezone"), locale=chosen.get("locale")
        )

    def resources(self) -> tuple[Resource, ...]:
        return RESOURCES

    def cursor_since(self, resource: Resource, since: datetime) -> str:
        return Keyset.since(since).encode()

    def fetch(self, resource: Resource, cursor: str | None, now: datetime) -> Iterator[Page]:
        lookups = _Lookups(self.client, self.ctx.brand_attribute, self.page_size)
        mappers: dict[Resource, PageMapper] = {
            Resource.PRODUCTS: lambda records: self._map_products(records, lookups),
            Resource.CUSTOMERS: lambda records: self._map_each(Resource.CUSTOMERS, records, mapping.map_customer),
            Resource.CARTS: lambda records: self._map_carts(records, lookups),
            Resource.ORDERS: lambda records: self._map_each(Resource.ORDERS, records, mapping.map_order),
        }
        if resource not in mappers:
            raise ConfigError(f"Magento cannot sync {resource.value}")
        return self._fetch_keyset(resource, cursor, now, mappers[resource])

    def _fetch_keyset(
        self, resource: Resource, cursor: str | None, now: datetime, mapper: PageMapper
    ) -> Iterator[Page]:
        """Pages after ``cursor``: page 1 of the moved keyset filter each time.

        When a page cannot move the cursor (its records have no usable id or
        time, or the shop ignored the filter and sent what we already have), the
        filter is frozen and the rest is read by page number, which ends on
        ``total_count`` or on Magento repeating its last page.
        """
        # Each run reads the cursor's second again (gteq, from id 0): a record written at that second
        # after the last sync read it (or committed late with a smaller id) is not left behind.
        state = Keyset(updated_at=Keyset.decode(cursor).updated_at, last_id=0)
        until = settled_until(now)
        id_key = ID_KEYS.get(resource, "id")
        frozen: list[list[Filter]] | None = None
        page_no = 1
        previous: list[Any] | None = None
        reported: set[str] = set()
        groups = state.groups(until) + EXTRA_GROUPS.get(resource, [])
        # The next page is asked for (in a thread) as soon as this page's positions say which it is, so
        # that it is on its way while this page is mapped.
        with request_threads(min(self.concurrent, 2), "relance-magento") as pool:
            asked: Future[Any] | None = pool.submit(
                self.client.search, PATHS[resource], groups, SORT, self.page_size, page_no
            )
            while asked is not None:
                page = asked.result()
                keys = [item.get(id_key) if isinstance(item, dict) else None for item in page.items]
                if not page.items or (page_no > 1 and keys == previous):
                    return
                previous = keys
                before = state
                fresh: list[dict[str, Any]] = []
                skipped: list[Skipped] = []
                for record in page.items:
                    try:
                        _, updated_at, number = _record_position(record, resource)
                    except MappingError as exc:
                        raw = record.get(id_key) if isinstance(record, dict) else None
                        shown = str(raw) if raw not in (None, "") else "?"
                        if shown == "?" or shown not in reported:  # met again on the next page: counted once
                            reported.add(shown)
                            skipped.append(Skipped(resource, shown, str(exc)))
                        continue
                    if not state.seen(updated_at, number):
                        fresh.append(record)
                        state = state.advance(updated_at, number)
                asked = None
                if not page.is_last:
                    if state != before and frozen is None:
                        page_no = 1
                    else:
                        frozen = groups
                        page_no += 1
                    groups = frozen if frozen is not None else state.groups(until) + EXTRA_GROUPS.get(resource, [])
                    asked = pool.submit(self.client.search, PATHS[resource], groups, SORT, self.page_size, page_no)
                if fresh or skipped:
                    events, unmapped = mapper(fresh)
                    yield Page(
                        events=events,
                        cursor=state.encode(),
                        fetched=len(fresh) + len(skipped),
                        skipped=skipped + unmapped,
                    )

    def _map_each(
        self, resource: Resource, records: list[dict[str, Any]], func: Callable[[Any, MagentoContext], Event]
    ) -> tuple[list[Event], list[Skipped]]:
        events: list[Event] = []
        skipped: list[Skipped] = []
        key = ID_KEYS.get(resource, "id")
        for record in records:
            try:
                events.append(func(record, self.ctx))
            except MappingError as exc:
                skipped.append(Skipped(resource, str(record.get(key)), str(exc)))
        return events, skipped

    def _map_products(self, records: list[dict[str, Any]], lookups: _Lookups) -> tuple[list[Event], list[Skipped]]:
        if not records:
            return [], []
        for record in records:
            if record.get("sku") and record.get("id") not in (None, ""):
                lookups.ids_by_sku.setdefault(str(record["sku"]), str(record["id"]))
        linked = [sku for record in records for sku in products.linked_skus(record)]
        refs = CatalogRefs(
            categories=lookups.category_names(),
            brands=lookups.brand_labels(),
            ids_by_sku=lookups.product_ids(linked),
        )
        return self._map_each(Resource.PRODUCTS, records, lambda record, ctx: products.map_product(record, ctx, refs))

    def _map_carts(self, records: list[dict[str, Any]], lookups: _Lookups) -> tuple[list[Event], list[Skipped]]:
        open_carts = [r for r in records if mapping.cart_email(r) and r.get("is_active") not in (False, 0, "0")]
        skus = [sku for record in open_carts for sku in mapping.cart_skus(record)]
        refs = ProductRefs()
        if skus:
            refs = ProductRefs(ids_by_sku=lookups.product_ids(skus), parent_by_id=lookups.parent_ids())
        events: list[Event] = []
        skipped: list[Skipped] = []
        for record in records:
            try:
                event = mapping.map_cart(record, self.ctx, refs)
            except MappingError as exc:
                skipped.append(Skipped(Resource.CARTS, str(record.get("id")), str(exc)))
                continue
            if event is not None:
                events.append(event)
        return events, skipped


def from_tenant(
    config: TenantConfig,
    *,
    session: requests.Session | None = None,
    sleep: Callable[[float], None] | None = None,
    page_size: int | None = None,
    **_options: Any,
) -> MagentoConnector:
    """Build the connector of a Magento tenant; ConfigError when its access token is missing."""
    token = config.credentials.get("access_token")
    if not token:
        raise ConfigError(
            f"tenant {config.name}: credentials.access_token is needed to sync Magento; create an integration "
            "under System > Extensions > Integrations, activate it and add its Access Token to the tenant file"
        )
    client = MagentoClient(
        config.url,
        token,
        tenant=config.name,
        store_code=config.credentials.get("store_code"),
        timeout=config.sync.timeout_seconds,
        session=session,
        sleep=sleep,
    )
    size = page_size or config.sync.page_size or DEFAULT_PAGE_SIZE
    return MagentoConnector(
        client, MagentoContext.from_tenant(config), page_size=size, concurrent=config.sync.concurrent_requests
    )
