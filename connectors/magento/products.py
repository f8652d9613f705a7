"""Magento 2 products -> ``product_updated`` events (pure: no I/O, no clock).

Magento products carry ids where Relance wants names, so the connector looks
the names up once per sync and hands them over as ``CatalogRefs``: category
names (``/V1/categories/list``), the brand attribute's option labels
(``/V1/products/attributes/{code}/options``) and the ids of linked SKUs
(cross-sells are linked by SKU).

- ``categories`` from ``extension_attributes.category_links`` (else the
  ``category_ids`` custom attribute), without the root catalog levels.
- ``brand`` from the ``ctx.brand_attribute`` custom attribute (``manufacturer``
  by default): an option id resolved to its label, or the text itself for a
  text attribute.
- ``price``: the product's price; a configurable or bundle parent's own price
  is 0 in Magento (its children carry it), so it is left unknown.
- ``in_stock`` (buyable): false when disabled or not visible on its own,
  else ``extension_attributes.stock_item.is_in_stock`` when Magento sends it
  (``/V1/products`` lists leave it out on many versions), else unknown.
- ``url`` = store URL + ``url_key`` + suffix, for products visible on their
  own; ``image_url`` = the base image (``media_gallery_entries`` with type
  "image", else the ``image`` custom attribute) under ``/media/catalog/product``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from connectors.magento.values import (
    MagentoContext,
    build_event,
    flag,
    ident,
    listed,
    message_id,
    modified_at,
    money_or_none,
    record_id,
    text,
)
from core.model import Event

STATUS_ENABLED = 1
VISIBILITY_NOT_VISIBLE = 1
#: Product types whose own price is not what a shopper pays (the children's prices are).
PRICED_BY_CHILDREN = frozenset({"configurable", "bundle", "grouped"})
NO_IMAGE = "no_selection"


@dataclass(frozen=True)
class CatalogRefs:
    """Names the connector looked up for this sync: category id -> name, brand option id -> label, SKU -> id."""

    categories: Mapping[str, str] = field(default_factory=dict)
    brands: Mapping[str, str] = field(default_factory=dict)
    ids_by_sku: Mapping[str, str] = field(default_factory=dict)


def custom_attributes(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``custom_attributes`` as a dict of attribute code -> value."""
    found: dict[str, Any] = {}
    for entry in listed(payload.get("custom_attributes")):
        if isinstance(entry, Mapping) and isinstance(entry.get("attribute_code"), str):
            found[entry["attribute_code"]] = entry.get("value")
    return found


def category_ids(payload: Mapping[str, Any]) -> list[str]:
    """The ids of a product's categories, in Magento's order."""
    extension = payload.get("extension_attributes")
    links = extension.get("category_links") if isinstance(extension, Mapping) else None
    ids: list[str] = []
    if isinstance(links, list):
        ordered = sorted(
            (link for link in links if isinstance(link, Mapping)),
            key=lambda link: link.get("position") if isinstance(link.get("position"), int) else 0,
        )
        ids = [i for i in (ident(link.get("category_id")) for link in ordered) if i]
    else:
        raw = custom_attributes(payload).get("category_ids")
        if isinstance(raw, list):
            ids = [i for i in (ident(value) for value in raw) if i]
    return list(dict.fromkeys(ids))


def linked_skus(payload: Mapping[str, Any], link_type: str = "crosssell") -> list[str]:
    """The SKUs a product links to with ``link_type`` ("crosssell", "upsell", "related"), by position."""
    links = [
        link
        for link in listed(payload.get("product_links"))
        if isinstance(link, Mapping) and link.get("link_type") == link_type and link.get("linked_product_sku")
    ]
    links.sort(key=lambda link: link.get("position") if isinstance(link.get("position"), int) else 0)
    return list(dict.fromkeys(str(link["linked_product_sku"]) for link in links))


def brand_of(payload: Mapping[str, Any], ctx: MagentoContext, refs: CatalogRefs) -> str | None:
    """The brand label: the option of ``ctx.brand_attribute``, or its text for a text attribute."""
    value = custom_attributes(payload).get(ctx.brand_attribute)
    if isinstance(value, list):
        value = value[0] if value else None
    key = ident(value)
    if key is None:
        return None
    if key in refs.brands:
        return text(refs.brands[key])
    # A select attribute stores option ids; an id we cannot name is not a brand.
    return None if key.isdigit() else text(key)


def _image_file(payload: Mapping[str, Any]) -> str | None:
    entries = [
        entry
        for entry in listed(payload.get("media_gallery_entries"))
        if isinstance(entry, Mapping) and entry.get("file") and not flag(entry.get("disabled"))
    ]
    entries.sort(key=lambda entry: entry.get("position") if isinstance(entry.get("position"), int) else 0)
    for entry in entries:
        if "image" in listed(entry.get("types")):
            return str(entry["file"])
    if entries and entries[0].get("media_type", "image") == "image":
        return str(entries[0]["file"])
    image = custom_attributes(payload).get("image")
    if isinstance(image, str) and image.strip() and image.strip() != NO_IMAGE:
        return image.strip()
    return None


def _stock(payload: Mapping[str, Any]) -> bool | None:
    extension = payload.get("extension_attributes")
    stock = extension.get("stock_item") if isinstance(extension, Mapping) else None
    if isinstance(stock, Mapping):
        return flag(stock.get("is_in_stock"))
    legacy = custom_attributes(payload).get("quantity_and_stock_status")
    if isinstance(legacy, Mapping):
        return flag(legacy.get("is_in_stock"))
    return None


def in_stock(payload: Mapping[str, Any]) -> bool | None:
    """Buyable now: enabled, visible on its own, and in stock (None when Magento does not say)."""
    status = payload.get("status")
    if status is not None and str(status) != str(STATUS_ENABLED):
        return False
    if str(payload.get("visibility")) == str(VISIBILITY_NOT_VISIBLE):
        return False
    return _stock(payload)


def product_url(payload: Mapping[str, Any], ctx: MagentoContext) -> str | None:
    """The storefront URL of a product visible on its own, from its ``url_key``."""
    if str(payload.get("visibility")) == str(VISIBILITY_NOT_VISIBLE):
        return None
    key = custom_attributes(payload).get("url_key")
    if not isinstance(key, str) or not key.strip():
        return None
    return f"{ctx.store_url}/{key.strip().strip('/')}{ctx.url_suffix}"


def map_product(payload: Mapping[str, Any], ctx: MagentoContext, refs: CatalogRefs | None = None) -> Event:
    """A ``product_updated`` event for a Magento product (``/V1/products``)."""
    refs = refs or CatalogRefs()
    product_id = record_id(payload, "id", "product")
    record = f"product {product_id}"
    modified = modified_at(payload, record)
    price = money_or_none(payload.get("price"), record, "price")
    if price is not None and price == Decimal(0) and str(payload.get("type_id")) in PRICED_BY_CHILDREN:
        price = None
    image = _image_file(payload)
    categories = [name for name in (text(refs.categories.get(i)) for i in category_ids(payload)) if name]
    cross_sells = [refs.ids_by_sku[sku] for sku in linked_skus(payload) if sku in refs.ids_by_sku]
    properties: dict[str, Any] = {
        "product_id": product_id,
        "sku": text(payload.get("sku")),
        "name": text(payload.get("name")),
        "brand": brand_of(payload, ctx, refs),
        "categories": list(dict.fromkeys(categories)),
        "price": price,
        "currency": ctx.currency,
        "in_stock": in_stock(payload),
        "url": product_url(payload, ctx),
        "image_url": None if image is None else f"{ctx.media_url}/{image.lstrip('/')}",
        "cross_sell_ids": [i for i in dict.fromkeys(cross_sells) if i != product_id],
    }
    return build_event(
        {
            "type": "track",
            "event": "product_updated",
            "message_id": message_id("products", product_id, modified),
            "timestamp": modified,
            "properties": properties,
        },
        record,
    )
