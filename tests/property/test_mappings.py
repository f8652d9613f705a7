"""Each platform's pure mapping on its own records, mutated: an event the store holds, or the documented refusal.

The records are the fixtures of tests/fixtures (shaped exactly like each
platform's REST answers), decoded as each client decodes them, with a few
values replaced by what breaks (see ``strategies``). A mapping returns events
that the Event API parser accepts again and the store holds as they are, or
raises its documented error (``MappingError`` for WooCommerce and Magento,
``RecordError`` or ``EventError`` for PrestaShop) with a one-line reason that
names no person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given
from hypothesis import strategies as st

import connectors.woocommerce.mapping as woo
from connectors.magento import mapping as magento
from connectors.magento.products import CatalogRefs
from connectors.magento.products import map_product as magento_product
from connectors.magento.values import MagentoContext
from connectors.magento.values import MappingError as MagentoMappingError
from connectors.prestashop import mapping as presta
from connectors.prestashop.lookups import Lookups, ShopContext
from connectors.prestashop.values import RecordError, order_status
from core.errors import EventError
from core.events import event_to_dict, parse_event
from core.model import Event
from tests.property.roundtrip import store_and_check
from tests.property.strategies import records

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _fixture(platform: str, name: str, decimal: bool = True) -> Any:
    text = (FIXTURES / platform / f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text, parse_float=Decimal) if decimal else json.loads(text)


def _emails(value: Any, key: str = "") -> set[str]:
    """Every email address in a record's email fields (none may appear in an error message)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, item in value.items():
            found |= _emails(item, str(name))
    elif isinstance(value, list):
        for item in value:
            found |= _emails(item, key)
    elif isinstance(value, str) and "email" in key and len(value.strip()) > 5:
        found.add(value.strip().lower())
    return found


def regressions(cases: list[tuple[str, dict[str, Any]]]) -> Callable[[Any], Any]:
    """Pin the inputs the property tests once found crashing: they run first on every run."""

    def decorate(test: Any) -> Any:
        for case in cases:
            test = example(case=case)(test)
        return test

    return decorate


def _changed(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**record, **changes}


def outcome(call: Callable[[], Any], errors: tuple[type[Exception], ...], record: Any) -> list[Event]:
    """The events a mapping call returns, or [] for a refusal whose message passes the checks."""
    try:
        result = call()
    except errors as exc:
        message = str(exc)
        assert message.strip() and "\n" not in message and len(message) < 2000, message
        for email in _emails(record):
            assert email not in message.lower(), message
        return []
    if result is None:
        return []
    found = list(result) if isinstance(result, Iterable) and not isinstance(result, Event) else [result]
    for event in found:
        assert isinstance(event, Event)
        assert parse_event(json.loads(json.dumps(event_to_dict(event))), default_source=event.source) == event
    return found


# --- WooCommerce ------------------------------------------------------------------------------

WOO = woo.WooContext(
    store_url="https://shop.example.com",
    timezone="Europe/Paris",
    currency="EUR",
    birthday_meta_key="billing_birth_date",
)
WOO_MAPPINGS = {
    "orders": lambda record: woo.map_order(record, WOO),
    "customers": lambda record: woo.map_customer(record, WOO),
    "products": lambda record: woo.map_product(record, WOO),
}


@st.composite
def woo_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(WOO_MAPPINGS)))
    decimal = draw(st.booleans())  # the connector decodes with Decimal, a webhook body with plain json
    return kind, draw(records(lambda: _fixture("woocommerce", kind, decimal)))


_WOO_ORDER = _fixture("woocommerce", "orders")[0]
_WOO_PRODUCT = _fixture("woocommerce", "products")[0]


@given(woo_records())
@regressions(
    [
        ("products", _changed(_WOO_PRODUCT, id="line\nbreak")),
        ("products", _changed(_WOO_PRODUCT, cross_sell_ids=Decimal("1.5"))),
        ("orders", _changed(_WOO_ORDER, id="x" * 2000)),
        ("orders", _changed(_WOO_ORDER, coupon_lines=7)),
        ("orders", _changed(_WOO_ORDER, line_items=[{**_WOO_ORDER["line_items"][0], "quantity": float("inf")}])),
        ("orders", _changed(_WOO_ORDER, total="1" + "0" * 30)),
    ]
)
def test_woocommerce_mappings(engine, case: tuple[str, dict[str, Any]]) -> None:
    kind, record = case
    for event in outcome(lambda: WOO_MAPPINGS[kind](record), (woo.MappingError,), record):
        store_and_check(engine, event)


# --- Magento ----------------------------------------------------------------------------------

MAGENTO = MagentoContext(store_url="https://magento.example.com", currency="CHF")
MAGENTO_REFS = CatalogRefs(categories={"3": "Gear", "4": "Bags"}, brands={"12": "Luma"}, ids_by_sku={"24-MB02": "2"})
MAGENTO_MAPPINGS = {
    "orders": lambda record: magento.map_order(record, MAGENTO),
    "customers": lambda record: magento.map_customer(record, MAGENTO),
    "carts": lambda record: magento.map_cart(record, MAGENTO, magento.ProductRefs(ids_by_sku={"24-MB02": "2"})),
    "products": lambda record: magento_product(record, MAGENTO, MAGENTO_REFS),
}


@st.composite
def magento_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(MAGENTO_MAPPINGS)))
    return kind, draw(records(lambda: _fixture("magento", kind)["items"]))


_MAGENTO_PRODUCT = _fixture("magento", "products")["items"][0]
_MAGENTO_CUSTOMER = _fixture("magento", "customers")["items"][0]


@given(magento_records())
@regressions(
    [
        ("customers", _changed(_MAGENTO_CUSTOMER, addresses=1.5)),
        ("products", _changed(_MAGENTO_PRODUCT, custom_attributes=True)),
        ("products", _changed(_MAGENTO_PRODUCT, product_links=0.5)),
        ("products", _changed(_MAGENTO_PRODUCT, media_gallery_entries=3)),
        ("products", _changed(_MAGENTO_PRODUCT, media_gallery_entries=[{"file": "/a.jpg", "types": 0.5}])),
        ("products", _changed(_MAGENTO_PRODUCT, price=0, type_id=["configurable"])),
    ]
)
def test_magento_mappings(engine, case: tuple[str, dict[str, Any]]) -> None:
    kind, record = case
    for event in outcome(lambda: MAGENTO_MAPPINGS[kind](record), (MagentoMappingError,), record):
        store_and_check(engine, event)


# --- PrestaShop -------------------------------------------------------------------------------

PRESTA = ShopContext(url="https://ps.example.com", timezone=ZoneInfo("Europe/Paris"), language_id=None, currency="EUR")


def _presta(resource: str) -> list[dict[str, Any]]:
    return _fixture("prestashop", resource, decimal=False)[resource]


def _presta_lookups() -> Lookups:
    base = Lookups(
        countries={str(c["id"]): c["iso_code"] for c in _presta("countries")},
        currencies={str(c["id"]): c["iso_code"] for c in _presta("currencies")},
        languages={"1": "fr_FR", "2": "en_US"},
        genders={"1": "male", "2": "female"},
        groups={"2": "Guest", "3": "Customer"},
        order_states={str(s["id"]): order_status(s) for s in _presta("order_states")},
        manufacturers={str(m["id"]): m["name"] for m in _presta("manufacturers")},
        categories={"3": "Vêtements", "4": "Hommes", "6": "Accessoires"},
    )
    products = {str(p["id"]): presta.product_info(p, base, PRESTA) for p in _presta("products") if p["price"] != "N/A"}
    return Lookups(**{**base.__dict__, "products": products})


PRESTA_LOOKUPS = _presta_lookups()
PRESTA_CUSTOMER = _presta("customers")[0]
PRESTA_ADDRESSES = _presta("addresses")
PRESTA_MAPPINGS = {
    "customers": lambda record: presta.customer_events(record, PRESTA_ADDRESSES, PRESTA_LOOKUPS, PRESTA),
    "orders": lambda record: presta.order_event(record, PRESTA_CUSTOMER, PRESTA_ADDRESSES[0], PRESTA_LOOKUPS, PRESTA),
    "products": lambda record: presta.product_event(record, 3, PRESTA_LOOKUPS, PRESTA),
    "carts": lambda record: presta.cart_event(record, PRESTA_CUSTOMER, PRESTA_LOOKUPS, PRESTA),
}


@st.composite
def presta_records(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(sorted(PRESTA_MAPPINGS)))
    return kind, draw(records(lambda: _presta(kind)))


@given(presta_records())
@regressions(
    [
        ("orders", _changed(_presta("orders")[0], id_currency="0\n0")),
        ("carts", _changed(_presta("carts")[0], associations={"cart_rows": [{"id_product": 1, "quantity": 10**30}]})),
    ]
)
def test_prestashop_mappings(engine, case: tuple[str, dict[str, Any]]) -> None:
    kind, record = case
    for event in outcome(lambda: PRESTA_MAPPINGS[kind](record), (RecordError, EventError), record):
        store_and_check(engine, event)
