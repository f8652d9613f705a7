"""The shop's reference data, fetched once per sync run and kept in memory for that run.

Small lists (countries, currencies, languages, groups, order states)
are read whole the first time they are needed; manufacturers, categories and
products are read by id, only those a page refers to, a hundred at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from connectors.prestashop.client import PrestaShopClient
from connectors.prestashop.lookups import Lookups, ProductInfo, ShopContext
from connectors.prestashop.mapping import product_info
from connectors.prestashop.values import RecordError, flag, ident, order_status, text, whole
from core import normalize
from core.errors import EventError
from core.model import OrderStatus

log = logging.getLogger(__name__)

#: The fields read from customers looked up for orders and carts (never ``passwd`` or ``secure_key``).
CUSTOMER_FIELDS = "[id,email,firstname,lastname,is_guest,deleted]"
ADDRESS_FIELDS = "[id,id_customer,id_country,firstname,lastname,city,phone,phone_mobile,deleted,date_upd]"  # no street


class ShopData:
    """Per-run caches of the shop's reference data, and ``lookups`` for the mapping."""

    def __init__(self, client: PrestaShopClient, ctx: ShopContext) -> None:
        self.client = client
        self.ctx = ctx
        self.countries: dict[str, str] = {}
        self.currencies: dict[str, str] = {}
        self.languages: dict[str, str] = {}
        self.groups: dict[str, str] = {}
        self.order_states: dict[str, OrderStatus] = {}
        self.manufacturers: dict[str, str] = {}
        self.categories: dict[str, str] = {}
        #: Category ids known not to be shown (root, home) or missing: not asked again.
        self._no_category: set[str] = set()
        self._no_manufacturer: set[str] = set()
        self.products: dict[str, ProductInfo] = {}
        self._no_product: set[str] = set()
        self._loaded: set[str] = set()

    def lookups(self) -> Lookups:
        return Lookups(
            countries=self.countries,
            currencies=self.currencies,
            languages=self.languages,
            groups=self.groups,
            order_states=self.order_states,
            manufacturers=self.manufacturers,
            categories=self.categories,
            products=self.products,
        )

    # --- small lists, read whole once ----------------------------------------

    def _once(self, name: str) -> bool:
        if name in self._loaded:
            return False
        self._loaded.add(name)
        return True

    def ensure(self, *names: str) -> None:
        """Load the named small lists (countries, currencies, languages, groups, order_states)."""
        for name in names:
            if self._once(name):
                getattr(self, f"_load_{name}")()

    def _records(self, resource: str, display: str = "full") -> Iterable[Mapping[str, Any]]:
        return (r for r in self.client.every(resource, display) if isinstance(r, Mapping))

    def _load_countries(self) -> None:
        for record in self._records("countries", "[id,iso_code]"):
            _put(self.countries, record, normalize.country, record.get("iso_code"))

    def _load_currencies(self) -> None:
        for record in self._records("currencies", "[id,iso_code]"):
            _put(self.currencies, record, normalize.currency, record.get("iso_code"))

    def _load_languages(self) -> None:
        for record in self._records("languages"):
            code = text(record.get("locale")) or text(record.get("language_code")) or text(record.get("iso_code"))
            _put(self.languages, record, normalize.locale, code)

    def _load_groups(self) -> None:
        for record in self._records("groups"):
            name = text(record.get("name"), self.ctx.language_id)
            if name and ident(record.get("id")):
                self.groups[ident(record.get("id")) or ""] = name

    def _load_order_states(self) -> None:
        for record in self._records("order_states"):
            state_id = ident(record.get("id"))
            if state_id:
                self.order_states[state_id] = order_status(record)

    # --- read by id, as pages need them --------------------------------------

    def ensure_manufacturers(self, ids: Iterable[str | None]) -> None:
        missing = {i for i in ids if i and i not in self.manufacturers and i not in self._no_manufacturer}
        if not missing:
            return
        for record in self.client.by_ids("manufacturers", missing, display="[id,name]"):
            if isinstance(record, Mapping):
                name = text(record.get("name"), self.ctx.language_id)
                if name and ident(record.get("id")):
                    self.manufacturers[ident(record.get("id")) or ""] = name
        self._no_manufacturer |= missing - set(self.manufacturers)

    def ensure_categories(self, ids: Iterable[str | None]) -> None:
        """Category names; the root and home categories (``level_depth`` 0 and 1) are left out."""
        missing = {i for i in ids if i and i not in self.categories and i not in self._no_category}
        if not missing:
            return
        for record in self.client.by_ids("categories", missing, display="[id,name,level_depth,is_root_category]"):
            if not isinstance(record, Mapping):
                continue
            category_id = ident(record.get("id"))
            name = text(record.get("name"), self.ctx.language_id)
            shown = not flag(record.get("is_root_category")) and _depth(record.get("level_depth")) > 1
            if category_id and name and shown:
                self.categories[category_id] = name
        self._no_category |= missing - set(self.categories)

    def remember_product(self, record: Mapping[str, Any]) -> ProductInfo | None:
        """Keep what orders and carts need from a product record (its brand and categories must be loaded)."""
        try:
            info = product_info(record, self.lookups(), self.ctx)
        except (RecordError, EventError):
            return None
        self.products[info.product_id] = info
        self._no_product.discard(info.product_id)
        return info

    def prepare_products(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Load the brands and categories a list of product records refers to."""
        records = list(records)
        self.ensure_manufacturers(
            ident(r.get("id_manufacturer")) for r in records if not text(r.get("manufacturer_name"))
        )
        category_ids: list[str] = []
        for record in records:
            associations = record.get("associations")
            rows = associations.get("categories") if isinstance(associations, Mapping) else None
            for row in rows if isinstance(rows, list) else []:
                if isinstance(row, Mapping) and ident(row.get("id")):
                    category_ids.append(ident(row.get("id")) or "")
        self.ensure_categories(category_ids)

    def ensure_products(self, ids: Iterable[str | None]) -> None:
        """Products referred to by order or cart rows, read once per run."""
        missing = {i for i in ids if i and i not in self.products and i not in self._no_product}
        if not missing:
            return
        records = [r for r in self.client.by_ids("products", missing) if isinstance(r, Mapping)]
        self.prepare_products(records)
        for record in records:
            self.remember_product(record)
        gone = missing - set(self.products)
        if gone:
            log.info("tenant %s: %d products referred to are not in the shop any more", self.client.tenant, len(gone))
        self._no_product |= gone

    def stock(self, product_ids: Iterable[str]) -> dict[str, int]:
        """Total stock per product (the ``stock_availables`` row of ``id_product_attribute`` 0)."""
        found: dict[str, int] = {}
        records = self.client.by_ids(
            "stock_availables",
            product_ids,
            field="id_product",
            display="[id,id_product,id_product_attribute,quantity]",
            extra={"filter[id_product_attribute]": "[0]"},
        )
        for record in records:
            if not isinstance(record, Mapping) or ident(record.get("id_product_attribute")):
                continue
            product_id = ident(record.get("id_product"))
            if product_id and _is_number(record.get("quantity")):
                # One row per shop on a multistore: the largest, not the sum, to count nothing twice.
                found[product_id] = max(found.get(product_id, 0), whole(record.get("quantity")))
        return found


def _is_number(value: Any) -> bool:
    try:
        whole(value, default=-1)
    except RecordError:
        return False
    return value is not None and str(value).strip() != ""


def _depth(value: Any) -> int:
    return whole(value, 0) if _is_number(value) else 0


def _put(target: dict[str, str], record: Mapping[str, Any], check: Any, value: Any) -> None:
    record_id = ident(record.get("id"))
    if not record_id:
        return
    try:
        normalised = check(value)
    except ValueError:
        log.warning("reference record %s has an unusable code; ignored", record_id)
        return
    if normalised:
        target[record_id] = normalised
