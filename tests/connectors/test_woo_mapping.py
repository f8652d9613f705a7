"""WooCommerce payloads (tests/fixtures/woocommerce, shaped like REST v3 answers) -> Event API v1 events."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from connectors.woocommerce.mapping import (
    CART,
    MappingError,
    WooContext,
    map_customer,
    map_order,
    map_product,
    order_status,
    parse_birthday,
    unit_price,
)
from core.events import event_to_dict, order_of
from core.model import OrderStatus
from core.sections import validate_tenant
from tests.connectors.helpers import woo_fixture

CTX = WooContext(
    store_url="https://shop.example.com",
    timezone="Europe/Paris",
    currency="EUR",
    birthday_meta_key="billing_birth_date",
)


def orders() -> dict[int, dict]:
    return {o["id"]: o for o in woo_fixture("orders")}


def customers() -> dict[int, dict]:
    return {c["id"]: c for c in woo_fixture("customers")}


def products() -> dict[int, dict]:
    return {p["id"]: p for p in woo_fixture("products")}


def test_context_from_tenant_file():
    config = validate_tenant(
        {
            "name": "shop",
            "platform": "woocommerce",
            "url": "https://shop.example.com/",
            "timezone": "Europe/Brussels",
            "currency": "CHF",
            "sync": {"birthday_meta_key": "wlr_birthday"},
        }
    )
    assert WooContext.from_tenant(config) == WooContext(
        store_url="https://shop.example.com",
        timezone="Europe/Brussels",
        currency="CHF",
        birthday_meta_key="wlr_birthday",
    )


def test_registered_order_maps_contact_items_money_and_times():
    event = map_order(orders()[727], CTX)
    raw = event_to_dict(event)
    assert raw["event"] == "order_placed" and raw["source"] == "woocommerce"
    assert raw["message_id"] == "woocommerce:orders:727:2026-11-20T14:33:10Z"
    assert event.timestamp == datetime(2026, 11, 20, 14, 33, 10, tzinfo=UTC)  # date_modified_gmt, not local
    assert raw["contact"] == {
        "email": "zoe.angstrom@example.fr",  # WooCommerce keeps the typed case; we lower-case
        "phone": "+33612345678",  # national number parsed with the billing country
        "first_name": "Zoé",
        "last_name": "Ångström",
        "country": "FR",
        "city": "Lyon",
        "external_id": "12",
    }
    props = raw["properties"]
    assert props["order_id"] == "727" and props["number"] == "727"
    assert props["status"] == "paid" and props["currency"] == "EUR" and props["total"] == "56.81"
    assert props["created_at"] == "2026-11-20T14:31:05Z" and props["updated_at"] == "2026-11-20T14:33:10Z"
    assert props["coupons"] == ["summer10"]
    simple, variation = props["items"]
    assert simple["name"] == "Café & Thé Sampler"  # "&amp;" made plain
    assert (simple["product_id"], simple["variant_id"], simple["quantity"], simple["price"]) == ("93", None, 2, "9.00")
    assert simple["image_url"] == "https://shop.example.com/wp-content/uploads/2026/10/sampler.jpg"
    # price is total / quantity in Decimal (WooCommerce's float 7.003333333333334 is not used)
    assert (variation["product_id"], variation["variant_id"], variation["price"]) == ("22", "23", "7.0033")
    assert variation["sku"] == "SYI-BLK" and variation["name"] == "Ship Your Idea - Black"
    assert variation["image_url"] is None  # image {"id": "", "src": ""}


def test_order_keeps_nothing_relance_does_not_need():
    raw = event_to_dict(map_order(orders()[727], CTX))
    text = repr(raw)
    for secret in ("203.0.113.7", "Mozilla", "cus_Q1w2E3r4T5y6", "src_1Pq2Rs3Tu4Vw", "_reduced_stock", "wc_order_"):
        assert secret not in text
    assert set(raw["properties"]) == {
        "order_id",
        "number",
        "status",
        "currency",
        "total",
        "items",
        "created_at",
        "updated_at",
        "coupons",
        "cart_id",  # the checkout draft it may have been: converted by this order
    }


def test_guest_order_becomes_a_contact_from_billing():
    raw = event_to_dict(map_order(orders()[728], CTX))
    assert raw["contact"] == {
        "email": "guest.buyer@example.com",
        "first_name": "José",
        "last_name": "De Smet",
        "country": "BE",
        "city": "Bruxelles",
    }
    (item,) = raw["properties"]["items"]
    assert item["sku"] is None  # the product was deleted
    assert raw["properties"]["status"] == "completed" and raw["properties"]["total"] == "24.90"


def test_partial_refund_keeps_status_and_total_and_says_how_much():
    props = event_to_dict(map_order(orders()[729], CTX))["properties"]
    assert props["status"] == "paid" and props["total"] == "30.00" and props["refunded_total"] == "10.00"


def test_full_refund():
    props = event_to_dict(map_order(orders()[730], CTX))["properties"]
    assert props["status"] == "refunded" and props["total"] == "24.90" and props["refunded_total"] == "24.90"


def test_on_hold_with_blank_billing_is_pending_and_attached_to_the_account():
    raw = event_to_dict(map_order(orders()[733], CTX))
    assert raw["properties"]["status"] == "pending"
    assert raw["contact"] == {"external_id": "12"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", "pending"),
        ("on-hold", "pending"),
        ("processing", "paid"),
        ("completed", "completed"),
        ("cancelled", "cancelled"),
        ("trash", "cancelled"),
        ("refunded", "refunded"),
        ("failed", "failed"),
        ("wc-completed", "completed"),
    ],
)
def test_status_mapping(status, expected):
    assert order_status({"status": status}) is OrderStatus(expected)


def test_a_checkout_draft_is_a_cart_not_an_order():
    assert order_status({"status": "checkout-draft"}) == CART


def test_a_tenants_own_statuses_come_first():
    custom = {"shipped": "completed", "awaiting-shipment": "pending", "quote": "cart"}
    assert order_status({"status": "wc-shipped"}, custom) is OrderStatus.COMPLETED
    assert order_status({"status": "awaiting-shipment", "date_paid_gmt": "2026-11-20T10:00:00"}, custom) is (
        OrderStatus.PENDING
    )
    assert order_status({"status": "quote"}, custom) == CART
    assert order_status({"status": "processing"}, custom) is OrderStatus.PAID


def test_unknown_plugin_status_is_paid_when_the_order_was_paid_else_pending():
    shipped = orders()[734]
    assert shipped["status"] == "shipped"
    assert event_to_dict(map_order(shipped, CTX))["properties"]["status"] == "paid"
    unpaid = dict(shipped, date_paid=None, date_paid_gmt=None, status="awaiting-shipment")
    assert order_status(unpaid) is OrderStatus.PENDING


def test_local_dates_are_read_in_the_shop_time_zone_when_gmt_is_missing():
    order = orders()[728]
    order["date_modified_gmt"] = None
    order["date_modified"] = "2026-07-01T12:00:00"  # Paris summer time
    event = map_order(order, CTX)
    assert event.timestamp == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_floats_from_a_plain_json_decode_give_the_same_exact_event():
    plain = {o["id"]: o for o in woo_fixture("orders", decimal=False)}
    for order_id, payload in orders().items():
        assert event_to_dict(map_order(plain[order_id], CTX)) == event_to_dict(map_order(payload, CTX))


def test_order_of_the_event_has_the_platform_total():
    order = order_of(map_order(orders()[727], CTX))
    assert order.total == Decimal("56.81") and order.status is OrderStatus.PAID


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"total": "12,50 €"}, "order 728: total: not an amount"),
        (
            {"date_modified_gmt": None, "date_modified": None, "date_created_gmt": None, "date_created": None},
            "has neither",
        ),
        ({"currency": ""}, "order 728: properties.currency"),
        ({"line_items": [{"quantity": "1.5", "total": "3.00"}]}, "not a whole number"),
        ({"billing": {"email": "not-an-email", "phone": ""}}, "no billing email, phone or customer account"),
    ],
)
def test_malformed_orders_raise_mapping_errors_naming_the_order(change, message):
    order = dict(orders()[728], **change)
    with pytest.raises(MappingError, match="order 728") as info:
        map_order(order, CTX)
    assert message in str(info.value)
    assert "guest.buyer" not in str(info.value)


@pytest.mark.parametrize("payload", [{"id": 0}, {"id": None}, {}, {"id": 5}])
def test_payloads_without_an_id_or_dates_are_refused(payload):
    with pytest.raises(MappingError):
        map_order(payload, CTX)


def test_a_mistyped_email_is_dropped_when_something_else_identifies_the_buyer():
    order = copy.deepcopy(orders()[729])
    order["billing"]["email"] = "marc.oneil@"
    raw = event_to_dict(map_order(order, CTX))
    assert "email" not in raw["contact"] and raw["contact"]["external_id"] == "14"


@pytest.mark.parametrize(
    ("total", "quantity", "expected"),
    [("21.01", 3, "7.0033"), ("20.00", 2, "10.00"), ("0.00", 0, "0.00"), ("10", 4, "2.5"), ("1.00", 3, "0.3333")],
)
def test_unit_price_is_exact_or_rounded_to_four_places(total, quantity, expected):
    assert unit_price(Decimal(total), quantity) == Decimal(expected)


def test_customer_with_birthday_in_meta_and_no_internal_meta():
    raw = event_to_dict(map_customer(customers()[12], CTX))
    assert raw["type"] == "identify" and raw["message_id"] == "woocommerce:customers:12:2026-11-20T14:40:00Z"
    assert raw["contact"] == {
        "email": "zoe.angstrom@example.fr",
        "phone": "+33612345678",
        "first_name": "Zoé",
        "last_name": "Ångström",
        "birthday": "1990-02-28",
        "country": "FR",
        "city": "Lyon",
        "external_id": "12",
        "attributes": {"role": "customer", "paying_customer": True},
    }
    assert "persistent_cart" not in repr(raw) and "password" not in repr(raw)


def test_customer_never_modified_uses_creation_time_and_billing_names():
    event = map_customer(customers()[13], CTX)
    raw = event_to_dict(event)
    assert event.timestamp == datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
    assert raw["contact"]["first_name"] == "Léa" and raw["contact"]["last_name"] == "Martin"
    assert raw["contact"]["birthday"] == "1985-08-15"  # "15/08/1985"
    assert raw["contact"]["phone"] == "+33320000000"


def test_blank_or_unconfigured_birthday_leaves_the_birthday_alone():
    assert "birthday" not in event_to_dict(map_customer(customers()[14], CTX))["contact"]  # value ""
    no_key = WooContext(store_url="https://shop.example.com")
    assert "birthday" not in event_to_dict(map_customer(customers()[12], no_key))["contact"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1990-02-28", date(1990, 2, 28)),
        ("1990-02-28 00:00:00", date(1990, 2, 28)),
        ("28/02/1990", date(1990, 2, 28)),
        ("02/28/1990", date(1990, 2, 28)),
        ("28.02.1990", date(1990, 2, 28)),
        ("19900228", date(1990, 2, 28)),
        ("February 28, 1990", date(1990, 2, 28)),
        (636163200, date(1990, 2, 28)),
        ("636163200", date(1990, 2, 28)),
        ({"year": "1990", "month": "2", "day": "28"}, date(1990, 2, 28)),
        ("0000-00-00", None),
        ("", None),
        (None, None),
        ("soon", None),
        ("1850-01-01", None),
        (["1990-02-28"], None),
    ],
)
def test_birthday_formats(value, expected):
    assert parse_birthday(value) == expected


def test_simple_product_with_brand_categories_tags_and_cross_sells():
    (event,) = map_product(products()[93], CTX)
    raw = event_to_dict(event)
    assert raw["event"] == "product_updated" and raw["contact"] == {}
    assert raw["message_id"] == "woocommerce:products:93:2026-11-19T09:00:00Z"
    assert raw["properties"] == {
        "product_id": "93",
        "sku": "WOO-SAMPLER",
        "name": "Café & Thé Sampler",
        "brand": "Maison Lumière",
        "categories": ["Coffee & Tea", "Gifts"],
        "tags": ["gift"],
        "price": "9.00",
        "currency": "EUR",
        "in_stock": True,
        "url": "https://shop.example.com/product/p93/",
        "image_url": "https://shop.example.com/wp-content/uploads/2026/01/sampler.jpg",
        "cross_sell_ids": ["22", "57"],
    }


def test_variable_product_without_brands_field_and_draft_product():
    (variable,) = map_product(products()[22], CTX)
    assert variable.properties["price"] == "7.00" and variable.properties["brand"] is None
    (draft,) = map_product(products()[40], CTX)
    assert draft.properties["in_stock"] is False and draft.properties["sku"] is None


def test_variation_payload_gives_no_product_event():
    assert map_product(woo_fixture("product_variation"), CTX) == []


def test_unreadable_product_price_is_a_mapping_error():
    with pytest.raises(MappingError, match="product 93: price"):
        map_product(dict(products()[93], price="n/a"), CTX)


def test_customer_falls_back_to_the_billing_email_when_the_account_email_is_unusable():
    customer = copy.deepcopy(customers()[13])
    customer["email"] = "lea.martin@"
    customer["billing"]["email"] = "Lea.Billing@Example.net"
    assert event_to_dict(map_customer(customer, CTX))["contact"]["email"] == "lea.billing@example.net"
