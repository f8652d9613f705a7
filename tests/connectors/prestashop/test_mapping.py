"""PrestaShop records -> Event API v1 events, on payloads shaped like the webservice's JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.prestashop.lookups import Lookups, ShopContext
from connectors.prestashop.mapping import (
    best_address,
    cart_event,
    customer_events,
    order_event,
    product_event,
    product_info,
)
from connectors.prestashop.values import RecordError, order_status
from core.errors import EventError
from core.events import cart_of, event_to_dict, order_of, product_of
from core.model import UNSET, Channel, OrderStatus
from tests.connectors.prestashop.fakeshop import load_fixture, shop_data

CTX = ShopContext(url="https://ps.example.com", timezone=ZoneInfo("Europe/Paris"), language_id=None, currency="EUR")
DATA = shop_data()


def by_id(resource: str, record_id: int) -> dict[str, Any]:
    return next(r for r in DATA[resource] if r["id"] == record_id)


def lookups(language_id: int | None = None) -> Lookups:
    ctx = ShopContext(CTX.url, CTX.timezone, language_id, CTX.currency)
    base = Lookups(
        countries={str(c["id"]): c["iso_code"] for c in DATA["countries"]},
        currencies={str(c["id"]): c["iso_code"] for c in DATA["currencies"]},
        languages={"1": "fr_FR", "2": "en_US"},
        genders={"1": "male", "2": "female"},
        groups={"2": "Guest", "3": "Customer"},
        order_states={str(s["id"]): order_status(s) for s in DATA["order_states"]},
        manufacturers={str(m["id"]): m["name"] for m in DATA["manufacturers"]},
        categories={"3": "Vêtements", "4": "Hommes", "6": "Accessoires"},
    )
    products = {str(p["id"]): product_info(p, base, ctx) for p in DATA["products"] if p["price"] != "N/A"}
    return Lookups(**{**base.__dict__, "products": products})


def addresses_of(customer_id: int) -> list[dict[str, Any]]:
    return [a for a in DATA["addresses"] if a["id_customer"] == customer_id]


def test_customer_with_account_newsletter_and_addresses() -> None:
    profile, newsletter = customer_events(by_id("customers", 1), addresses_of(1), lookups(), CTX)
    contact = profile.contact
    assert profile.type.value == "identify" and profile.source == "prestashop"
    assert profile.message_id == "prestashop:customers:1:2026-11-20T08:30:00Z"
    assert profile.timestamp == datetime(2026, 11, 20, 8, 30, tzinfo=UTC)  # 09:30 in Paris (winter)
    assert contact.email == "marie.dupont@example.fr"
    assert (contact.first_name, contact.last_name) == ("Marie", "Dupont")
    assert contact.birthday.isoformat() == "1990-02-28"
    # The live address in Lyon, not the deleted (and more recently changed) one in Paris; mobile first.
    assert (contact.city, contact.country, contact.phone) == ("Lyon", "FR", "+33612345678")
    assert contact.locale == "fr_FR"
    assert contact.external_id == "1"
    assert contact.attributes == {
        "guest": False,
        "partner_offers": False,
        "gender": "female",
        "customer_group": "Customer",
    }
    assert contact.consent == {}
    # The subscription is its own event, timed when the customer made that choice.
    assert newsletter.timestamp == datetime(2024, 3, 2, 9, 15, 22, tzinfo=UTC)
    assert newsletter.contact.consent == {Channel.EMAIL: True}
    assert newsletter.message_id == "prestashop:customers:1:newsletter:2024-03-02T09:15:22Z"


def test_guest_has_no_external_id_and_zero_dates_are_left_out() -> None:
    (event,) = customer_events(by_id("customers", 4), addresses_of(4), lookups(), CTX)
    contact = event.contact
    assert contact.external_id is UNSET  # guests have no account: the e-mail identifies them
    assert contact.birthday is UNSET  # "0000-00-00"
    assert contact.consent == {}  # never subscribed (zero newsletter_date_add): nothing said
    assert (contact.first_name, contact.last_name, contact.city) == ("Zoë", "Ångström", "Liège")
    assert (contact.country, contact.phone, contact.locale) == ("BE", "+32470123456", "en_US")
    assert contact.attributes["guest"] is True


def test_the_same_guest_email_twice_gives_the_same_contact_email() -> None:
    first = customer_events(by_id("customers", 4), addresses_of(4), lookups(), CTX)[0]
    second = customer_events(by_id("customers", 5), addresses_of(5), lookups(), CTX)[0]
    assert first.contact.email == second.contact.email == "zoe.angstrom@example.be"
    assert first.message_id != second.message_id


def test_unsubscribed_customer_is_an_opt_out_and_optin_is_only_an_attribute() -> None:
    (event,) = customer_events(by_id("customers", 7), addresses_of(7), lookups(), CTX)
    assert event.contact.consent == {Channel.EMAIL: False}
    assert event.contact.attributes["partner_offers"] is True
    assert event.contact.phone == "+41221234567"  # "022 123 45 67" read as Swiss


def test_subscribed_without_a_date_consents_in_the_profile_event() -> None:
    (event,) = customer_events(by_id("customers", 9), addresses_of(9), lookups(), CTX)
    assert event.contact.consent == {Channel.EMAIL: True}
    assert event.contact.phone is UNSET  # the address has no phone


def test_deleted_customer_becomes_an_opt_out_and_nothing_else() -> None:
    (event,) = customer_events(by_id("customers", 2), addresses_of(2), lookups(), CTX)
    assert event.contact.consent == {Channel.EMAIL: False}
    assert event.contact.attributes == {"deleted": True}
    assert event.contact.given() == {"email": "jean.martin@example.fr"}


def test_malformed_email_is_refused() -> None:
    with pytest.raises(EventError, match="contact.email"):
        customer_events(by_id("customers", 8), [], lookups(), CTX)


def test_prestashop_8_0_integer_types_are_read_the_same() -> None:
    (record,) = load_fixture("ps80_customers_int_types.json")["customers"]
    (event,) = customer_events(record, [], lookups(), CTX)
    assert event.contact.external_id == "3"
    assert event.contact.consent == {Channel.EMAIL: True}  # "newsletter": 1
    assert event.contact.attributes["guest"] is False  # "is_guest": 0


def test_secrets_are_never_copied() -> None:
    out = json.dumps(
        [event_to_dict(e) for c in DATA["customers"] if c["id"] != 8 for e in customer_events(c, [], lookups(), CTX)]
    )
    for customer in DATA["customers"]:
        for key in ("passwd", "secure_key", "reset_password_token"):
            if customer[key]:
                assert customer[key] not in out


def test_best_address_prefers_live_then_recent() -> None:
    assert best_address(addresses_of(1))["city"] == "Lyon"
    assert best_address([]) is None


def test_order_with_rows_status_from_the_shop_states_and_exact_totals() -> None:
    event = order_event(by_id("orders", 1), by_id("customers", 1), by_id("addresses", 1), lookups(), CTX)
    order = order_of(event)
    assert event.event == "order_placed"
    assert event.message_id == "prestashop:orders:1:2026-11-04T15:00:00Z"
    assert order.status is OrderStatus.COMPLETED  # state 4 is "Delivered" in this shop
    assert (order.order_id, order.number, order.currency, str(order.total)) == ("1", "XKBKNABJK", "EUR", "65.64")
    assert order.cart_id == "3"
    assert order.created_at == datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    shirt, mug = order.items
    assert (shirt.product_id, shirt.variant_id, shirt.sku, shirt.quantity, str(shirt.price)) == (
        "1",
        "1",
        "demo_1",
        1,
        "28.68",
    )
    assert shirt.name == "T-shirt imprimé colibri - Taille : S- Couleur : Blanc"
    assert (shirt.brand, shirt.categories) == ("Studio Design", ("Hommes", "Vêtements"))
    assert (mug.variant_id, mug.quantity, str(mug.price), mug.brand) == (None, 2, "14.28", "Graphic Corner")
    assert event.contact.external_id == "1"
    assert (event.contact.email, event.contact.city, event.contact.country) == ("marie.dupont@example.fr", "Lyon", "FR")


def test_guest_order_contact_comes_from_the_billing_address_without_external_id() -> None:
    event = order_event(by_id("orders", 2), by_id("customers", 4), by_id("addresses", 3), lookups(), CTX)
    assert event.contact.external_id is UNSET
    assert event.contact.email == "zoe.angstrom@example.be"
    assert (event.contact.first_name, event.contact.city) == ("Zoë", "Liège")
    assert order_of(event).currency == "CHF"
    assert order_of(event).status is OrderStatus.PAID


@pytest.mark.parametrize(
    ("order_id", "status"),
    [(3, OrderStatus.CANCELLED), (4, OrderStatus.REFUNDED), (6, OrderStatus.FAILED), (8, OrderStatus.PAID)],
)
def test_order_statuses_by_state(order_id: int, status: OrderStatus) -> None:
    record = by_id("orders", order_id)
    customer = by_id("customers", record["id_customer"])
    assert order_of(order_event(record, customer, None, lookups(), CTX)).status is status


def test_unknown_state_is_pending_and_unknown_currency_is_refused() -> None:
    record = {**by_id("orders", 1), "current_state": 0}
    assert order_of(order_event(record, by_id("customers", 1), None, lookups(), CTX)).status is OrderStatus.PENDING
    with pytest.raises(RecordError, match="currency id 9"):
        order_event(by_id("orders", 5), by_id("customers", 9), None, lookups(), CTX)


def test_order_of_a_customer_the_shop_no_longer_has_keeps_the_customer_id() -> None:
    event = order_event(by_id("orders", 1), None, None, lookups(), CTX)
    assert event.contact.external_id == "1"
    assert event.contact.email is UNSET


def test_prestashop_1_7_order_all_strings_one_language_across_the_dst_change() -> None:
    (record,) = load_fixture("ps17_orders_single_language.json")["orders"]
    customer = {"id": "12", "email": "Paul@Example.org", "is_guest": "0", "firstname": "Paul", "lastname": "Roux"}
    order = order_of(order_event(record, customer, None, lookups(), CTX))
    assert (str(order.total), order.status) == ("24.90", OrderStatus.PENDING)
    assert order.created_at == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET
    assert order.updated_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # 03:30 CEST
    (item,) = order.items
    assert (item.name, str(item.price), item.brand) == ("Mug personnalisable", "29.90", None)


def test_product_with_brand_categories_stock_and_cross_sells() -> None:
    event = product_event(by_id("products", 1), 2400, lookups(), CTX)
    product = product_of(event)
    assert event.message_id == "prestashop:products:1:2026-11-01T11:00:00Z"
    assert (product.name, product.sku, product.brand) == ("T-shirt imprimé colibri", "demo_1", "Studio Design")
    assert product.categories == ("Hommes", "Vêtements")  # default category first, root and home left out
    assert (str(product.price), product.currency, product.in_stock) == ("23.90", "EUR", True)
    assert product.url == "https://ps.example.com/index.php?controller=product&id_product=1"
    assert product.image_url == "https://ps.example.com/img/p/1/1.jpg"
    assert product.cross_sell_ids == ("2", "6")


def test_product_names_in_the_tenant_language_html_unescaped() -> None:
    ctx = ShopContext(CTX.url, CTX.timezone, 2, "EUR")
    product = product_of(product_event(by_id("products", 2), 150, lookups(2), ctx))
    assert product.name == "Coffee & Tea mug"
    assert product.brand == "Graphic Corner"  # manufacturer_name empty: from the manufacturers
    assert product.image_url == "https://ps.example.com/img/p/2/2/22.jpg"


def test_inactive_products_are_not_in_stock_and_bare_products_map() -> None:
    assert product_of(product_event(by_id("products", 3), 10, lookups(), CTX)).in_stock is False
    bare = product_of(product_event(by_id("products", 6), 0, lookups(), CTX))
    assert (bare.sku, bare.brand, bare.categories, bare.image_url, bare.cross_sell_ids) == (None, None, (), None, ())
    assert (str(bare.price), bare.in_stock) == ("16.5833", False)  # the store keeps 4 places
    assert product_of(product_event(by_id("products", 6), None, lookups(), CTX)).in_stock is None
    with pytest.raises(RecordError, match="price"):
        product_event(by_id("products", 5), 1, lookups(), CTX)


def test_open_cart_priced_from_the_products() -> None:
    event = cart_event(by_id("carts", 8), by_id("customers", 1), lookups(), CTX)
    cart = cart_of(event)
    assert (cart.cart_id, cart.currency, str(cart.total)) == ("8", "EUR", "59.70")  # 2 x 23.90 + 11.90
    assert [(i.product_id, i.variant_id, i.quantity, str(i.price)) for i in cart.items] == [
        ("1", "1", 2, "23.90"),
        ("2", None, 1, "11.90"),
    ]
    assert cart.recovery_url == "https://ps.example.com/index.php?controller=order"
    assert event.contact.external_id == "1"


def test_emptied_cart_and_rows_of_deleted_products() -> None:
    emptied = cart_of(cart_event(by_id("carts", 10), by_id("customers", 7), lookups(), CTX))
    assert (emptied.items, str(emptied.total)) == ((), "0.00")
    partial = cart_of(cart_event(by_id("carts", 12), by_id("customers", 9), lookups(), CTX))
    assert [i.product_id for i in partial.items] == ["6"]  # product 99 is gone from the shop
    assert str(partial.total) == "16.5833"  # the store keeps 4 places


def test_order_of_a_customer_with_a_mistyped_email_is_kept_by_customer_id() -> None:
    record = {**by_id("orders", 1), "id_customer": 8}
    event = order_event(record, by_id("customers", 8), None, lookups(), CTX)
    assert (event.contact.external_id, event.contact.email) == ("8", UNSET)
    guest = {**by_id("customers", 8), "is_guest": "1"}
    with pytest.raises(RecordError, match="no usable customer"):
        order_event(record, guest, None, lookups(), CTX)
