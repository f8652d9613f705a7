"""The Magento mapping on payloads shaped like Magento's own (tests/fixtures/magento), decoded as the client does."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connectors.magento.mapping import ProductRefs, map_cart, map_customer, map_order, order_lines, order_status
from connectors.magento.products import CatalogRefs, map_product
from connectors.magento.values import MagentoContext, MappingError
from core.events import cart_of, order_of, product_of
from core.model import Channel, OrderStatus
from tests.connectors.magento.fakeshop import FIXTURES

CTX = MagentoContext(store_url="https://magento.example.com", currency="CHF")


def items(name: str) -> dict[str, dict[str, Any]]:
    """A fixture's records by id, with JSON numbers as Decimal (as ``HttpClient.get_json`` decodes them)."""
    data = json.loads((FIXTURES / name).read_text(), parse_float=Decimal)
    return {str(r.get("entity_id", r.get("id"))): r for r in data["items"]}


ORDERS = items("orders.json")
CUSTOMERS = items("customers.json")
CARTS = items("carts.json")
PRODUCTS = items("products.json")


# --- orders -----------------------------------------------------------------------------------


def test_configurable_order_counts_each_line_once_with_the_variant_from_the_child():
    event = map_order(ORDERS["1001"], CTX)
    order = order_of(event)
    assert event.event == "order_placed" and event.source == "magento"
    assert event.message_id == "magento:orders:1001:2026-11-21T16:40:11Z"
    assert event.timestamp == datetime(2026, 11, 21, 16, 40, 11, tzinfo=UTC)
    assert order.order_id == "1001" and order.number == "000000101"
    assert order.status is OrderStatus.COMPLETED
    assert order.currency == "CHF" and order.total == Decimal("157.9")
    assert order.cart_id == "501"
    assert order.created_at == datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)
    assert [(i.product_id, i.variant_id, i.sku, i.quantity, i.price) for i in order.items] == [
        ("1", "3", "MS-CHEM-L-BLEU", 1, Decimal("79.9")),
        ("2", None, "24-MB02", 2, Decimal("34")),
    ]
    assert order.items[0].name == "Chemise lin & coton"
    assert order.items[1].name == "Sac « Joust »"
    # The lines add up to the subtotal: the child row (price 0) is not a line of its own.
    assert sum(i.price * i.quantity for i in order.items) == Decimal("147.9")


def test_registered_buyer_comes_from_the_billing_address_with_the_account_id():
    contact = map_order(ORDERS["1001"], CTX).contact
    assert contact.email == "zoe.angstrom@example.ch"
    assert (contact.first_name, contact.last_name) == ("Zoë", "Ångström")
    assert contact.phone == "+41446681800"  # "044 668 18 00" parsed with the billing country
    assert (contact.country, contact.city) == ("CH", "Zürich")
    assert contact.external_id == "7"
    assert contact.birthday == date(1990, 2, 28)  # customer_dob "1990-02-28 00:00:00"


def test_guest_order_has_no_customer_id_key_and_becomes_a_contact_by_email():
    payload = ORDERS["1002"]
    assert "customer_id" not in payload and payload["customer_is_guest"] == 1
    event = map_order(payload, CTX)
    assert event.contact.email == "marie.dupont@example.fr"
    assert event.contact.phone == "+33612345678"
    assert event.contact.external_id is not None and not event.contact.external_id  # UNSET: no account
    order = order_of(event)
    assert order.status is OrderStatus.PAID and order.total == Decimal("59.9")
    assert order.items[0].name == "Gourde isotherme 750\u202fml"


def test_bundle_revenue_comes_from_the_parent_row_and_closed_is_refunded():
    order = order_of(map_order(ORDERS["1003"], CTX))
    assert order.status is OrderStatus.REFUNDED
    assert [(i.product_id, i.variant_id, i.quantity, i.price) for i in order.items] == [("10", None, 1, Decimal("120"))]


def test_partial_refund_keeps_the_status_and_says_how_much():
    event = map_order(ORDERS["1004"], CTX)
    assert event.properties["status"] == "completed"
    assert event.properties["refunded_total"] == "20.00"
    assert event.properties["coupons"] == ["welcome10"]


def test_cancelled_order_in_another_script_and_currency():
    event = map_order(ORDERS["1005"], CTX)
    order = order_of(event)
    assert order.status is OrderStatus.CANCELLED and order.currency == "SAR" and order.total == Decimal("249")
    assert order.items[0].name == "قماش ريتشي  9118"  # trailing spaces trimmed
    assert (order.items[0].product_id, order.items[0].variant_id) == ("3128", "1387")
    assert event.contact.country == "SA" and event.contact.external_id == "60269"


def test_fractional_quantity_becomes_one_line_at_the_row_total():
    order = order_of(map_order(ORDERS["1006"], CTX))
    assert order.status is OrderStatus.PENDING
    assert [(i.quantity, i.price) for i in order.items] == [(1, Decimal("30"))]
    assert order.total == Decimal("30")


@pytest.mark.parametrize(
    ("state", "extra", "expected"),
    [
        ("new", {}, OrderStatus.PENDING),
        ("pending_payment", {}, OrderStatus.PENDING),
        ("payment_review", {}, OrderStatus.PENDING),
        ("holded", {}, OrderStatus.PENDING),
        ("holded", {"total_paid": Decimal("50")}, OrderStatus.PAID),
        ("processing", {}, OrderStatus.PAID),
        ("complete", {}, OrderStatus.COMPLETED),
        ("complete", {"total_refunded": Decimal("50")}, OrderStatus.REFUNDED),
        ("closed", {}, OrderStatus.REFUNDED),
        ("canceled", {}, OrderStatus.CANCELLED),
        (None, {"status": "fraud"}, OrderStatus.PENDING),
        (None, {"status": "shipped_custom", "total_paid": 50}, OrderStatus.PAID),
    ],
)
def test_order_status_comes_from_the_state(state, extra, expected):
    payload = {"grand_total": 50, "status": "custom_label", **extra}
    if state:
        payload["state"] = state
    assert order_status(payload) is expected


def test_child_whose_parent_row_is_missing_still_counts_once_through_the_embedded_parent():
    payload = copy.deepcopy(ORDERS["1001"])
    payload["items"] = [row for row in payload["items"] if row["item_id"] != 2001]  # only the child is left
    lines = order_lines(payload)
    assert [(line["product_id"], line["variant_id"], line["price"]) for line in lines] == [
        ("1", "3", "79.90"),
        ("2", None, "34.00"),
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda o: o.pop("entity_id"), "has no entity_id"),
        (lambda o: o.update(grand_total="n/a"), "grand_total"),
        (lambda o: o.update(updated_at="yesterday", created_at=None), "updated_at"),
        (lambda o: o.update(customer_email=None, billing_address={}, customer_is_guest=1), "no email"),
        (lambda o: o["items"].append("oops"), re.escape("items[1] is not an object")),
        (lambda o: o.update(order_currency_code="franken", base_currency_code=None), "currency"),
    ],
)
def test_malformed_order_raises_a_mapping_error_naming_the_record(change, reason):
    payload = copy.deepcopy(ORDERS["1002"])
    change(payload)
    with pytest.raises(MappingError, match=reason) as info:
        map_order(payload, CTX)
    assert "marie" not in str(info.value).lower()  # no personal data in the reason


# --- customers --------------------------------------------------------------------------------


def test_customer_with_dob_default_billing_address_and_newsletter():
    event = map_customer(CUSTOMERS["7"], CTX)
    contact = event.contact
    assert event.type.value == "identify" and event.message_id == "magento:customers:7:2026-11-19T08:30:00Z"
    assert contact.email == "zoe.angstrom@example.ch" and contact.external_id == "7"
    assert contact.birthday == date(1990, 2, 28)
    assert (contact.city, contact.country, contact.phone) == ("Zürich", "CH", "+41446681800")
    assert contact.consent == {Channel.EMAIL: True}
    assert contact.attributes == {"gender": "female", "customer_group_id": "1"}


def test_customer_without_address_or_dob_and_unsubscribed():
    contact = map_customer(CUSTOMERS["8"], CTX).contact
    assert contact.consent == {Channel.EMAIL: False}
    assert not contact.birthday and not contact.city and not contact.phone
    assert contact.last_name == "O'Brien"
    assert "gender" not in contact.attributes  # 0 is "not specified"


def test_customer_from_a_magento_without_is_subscribed_leaves_consent_alone():
    contact = map_customer(CUSTOMERS["9"], CTX).contact
    assert contact.consent == {}
    assert (contact.first_name, contact.last_name, contact.city) == ("Ayşe", "Yılmaz", "İstanbul")
    assert not contact.phone  # "123" is not a phone: dropped, the customer is kept
    assert "taxvat" not in json.dumps(contact.attributes)


# --- carts ------------------------------------------------------------------------------------


def test_active_customer_quote_is_an_open_cart_with_resolved_product_ids():
    refs = ProductRefs(ids_by_sku={"MS-CHEM-M-BLEU": "4", "24-MB02": "2"}, parent_by_id={"4": "1", "3": "1"})
    event = map_cart(CARTS["601"], CTX, refs)
    assert event is not None and event.event == "cart_updated"
    cart = cart_of(event)
    assert cart.cart_id == "601" and cart.currency == "CHF" and cart.total == Decimal("147.9")
    assert [(i.product_id, i.variant_id, i.sku, i.quantity, i.price) for i in cart.items] == [
        ("1", "4", "MS-CHEM-M-BLEU", 1, Decimal("79.9")),
        ("2", None, "24-MB02", 2, Decimal("34")),
    ]
    assert cart.items[0].name == "Chemise lin & coton"
    assert event.contact.email == "zoe.angstrom@example.ch" and event.contact.external_id == "7"


def test_guest_quote_with_a_checkout_email_is_a_cart_without_account():
    event = map_cart(CARTS["602"], CTX)
    assert event is not None
    assert event.contact.email == "lea.martin@example.fr" and not event.contact.external_id
    cart = cart_of(event)
    assert cart.currency == "EUR" and cart.total == Decimal("59.85")
    assert cart.items[0].product_id is None and cart.items[0].sku == "24-WG085"  # no lookup given


def test_quotes_that_are_not_open_carts_give_no_event():
    assert CARTS["501"]["is_active"] is False and "items" not in CARTS["501"]
    assert map_cart(CARTS["501"], CTX) is None  # converted into order 1001
    assert map_cart(CARTS["603"], CTX) is None  # a guest who gave no email yet


def test_emptied_quote_is_a_cart_with_no_items():
    cart = cart_of(map_cart(CARTS["604"], CTX))
    assert cart.items == () and cart.total == Decimal("0")


# --- products ---------------------------------------------------------------------------------

REFS = CatalogRefs(
    categories={"3": "Homme", "4": "Chemises", "5": "Été &amp; Plage", "6": "Sacs"},
    brands={"12": "Maison Lumière", "13": "Joust"},
    ids_by_sku={"24-MB02": "2", "MS-CHEM": "1"},
)


def test_configurable_product_with_categories_brand_image_and_cross_sells():
    event = map_product(PRODUCTS["1"], CTX, REFS)
    product = product_of(event)
    assert event.message_id == "magento:products:1:2026-11-18T07:00:00Z"
    assert product.name == "Chemise lin & coton" and product.sku == "MS-CHEM"
    assert product.brand == "Maison Lumière"
    assert product.categories == ("Chemises", "Été & Plage")  # by position; entities decoded
    assert product.price is None  # a configurable's own price is 0: its children carry it
    assert product.in_stock is None  # the product list gives no stock_item here
    assert product.url == "https://magento.example.com/chemise-lin-coton.html"
    assert product.image_url == "https://magento.example.com/media/catalog/product/c/h/chemise-bleu.jpg"
    assert product.cross_sell_ids == ("2",)  # crosssell only, not "related"
    assert product.currency == "CHF"


def test_simple_product_out_of_stock_with_an_unknown_cross_sell_sku():
    product = product_of(map_product(PRODUCTS["2"], CTX, REFS))
    assert product.in_stock is False and product.price == Decimal("34")
    assert product.brand == "Joust" and product.categories == ("Sacs",)
    assert product.cross_sell_ids == ("1",)  # DISCONTINUED-01 does not exist any more
    assert product.image_url.endswith("/2/4/24-mb02.jpg")  # the disabled image is skipped


def test_variant_disabled_and_bundle_products():
    child = product_of(map_product(PRODUCTS["3"], CTX, REFS))
    assert child.in_stock is False and child.url is None and child.image_url is None
    disabled = product_of(map_product(PRODUCTS["5"], CTX, REFS))
    assert disabled.in_stock is False and disabled.brand is None  # option 99 has no label
    bundle = product_of(map_product(PRODUCTS["10"], CTX, REFS))
    assert bundle.price is None and bundle.brand is None and bundle.categories == ("Été & Plage",)


def test_url_suffix_and_text_brand_attribute():
    ctx = MagentoContext(store_url="https://magento.example.com", url_suffix="", brand_attribute="brand")
    payload = copy.deepcopy(PRODUCTS["2"])
    payload["custom_attributes"].append({"attribute_code": "brand", "value": "Atelier &amp; Fils"})
    product = product_of(map_product(payload, ctx, REFS))
    assert product.url == "https://magento.example.com/sac-joust"
    assert product.brand == "Atelier & Fils"


def test_product_without_id_is_refused():
    payload = copy.deepcopy(PRODUCTS["2"])
    payload["id"] = None
    with pytest.raises(MappingError, match="product: payload has no id"):
        map_product(payload, CTX, REFS)
