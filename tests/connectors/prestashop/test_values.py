"""PrestaShop value coercion: strings or ints, money, multilingual fields, shop-local and zero dates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from connectors.prestashop.values import (
    RecordError,
    amount,
    association_ids,
    flag,
    ident,
    local_time,
    modified_at,
    order_status,
    shop_time,
    text,
    translations,
    whole,
)
from core.model import OrderStatus
from tests.connectors.prestashop.fakeshop import load_fixture

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("value", "expected"), [("12", "12"), (12, "12"), (" 7 ", "7"), ("0", None), (0, None), ("", None), (None, None)]
)
def test_ident_accepts_strings_and_ints_and_treats_zero_as_none(value: object, expected: str | None) -> None:
    assert ident(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), (1, True), (True, True), ("0", False), (0, False), ("", False), (None, False)]
)
def test_flag(value: object, expected: bool) -> None:
    assert flag(value) is expected


def test_money_strings_with_six_decimals_stay_exact() -> None:
    assert amount("24.900000", "total") == Decimal("24.9")
    assert amount("16.583333", "price") == Decimal("16.583333")
    assert amount(Decimal("0.1"), "x") + amount("0.2", "x") == Decimal("0.3")
    with pytest.raises(RecordError, match="total: not an amount"):
        amount("N/A", "total")


def test_whole_numbers_from_strings_ints_and_decimal_strings() -> None:
    assert whole("3") == 3
    assert whole(3) == 3
    assert whole("2.000000") == 2
    assert whole("", 1) == 1
    with pytest.raises(RecordError):
        whole("2.5")


def test_multilingual_fields_both_ways() -> None:
    both = [{"id": "1", "value": "Mug personnalisable"}, {"id": "2", "value": "Customizable mug"}]
    assert text(both) == "Mug personnalisable"  # no language chosen: the first
    assert text(both, language_id=2) == "Customizable mug"
    assert text(both, language_id=9) == "Mug personnalisable"  # unknown language: the first
    ints = [{"id": 1, "value": ""}, {"id": 2, "value": "Mug"}]
    assert text(ints, language_id=1) == "Mug"  # blank in that language: the first non-blank
    assert text("Mug") == "Mug"
    assert text("Caf&eacute; &amp; Th&eacute;") == "Café & Thé"
    assert text("<p>Bold <b>text</b></p>") == "Bold text"
    assert text("") is None
    assert text(False) is None
    assert translations(both) == ["Mug personnalisable", "Customizable mug"]


def test_local_times_follow_the_shop_time_zone_rules() -> None:
    # Winter (UTC+1), summer (UTC+2), and the spring-forward night of 2026-03-29.
    assert local_time("2026-01-15 10:00:00", PARIS) == datetime(2026, 1, 15, 9, 0, tzinfo=UTC)
    assert local_time("2026-07-15 10:00:00", PARIS) == datetime(2026, 7, 15, 8, 0, tzinfo=UTC)
    assert local_time("2026-03-29 01:30:00", PARIS) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert local_time("2026-03-29 03:30:00", PARIS) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert shop_time(datetime(2026, 7, 15, 8, 0, tzinfo=UTC), PARIS) == "2026-07-15 10:00:00"


def test_zero_dates_are_missing() -> None:
    assert local_time("0000-00-00 00:00:00", PARIS) is None
    assert local_time("0000-00-00", PARIS) is None
    assert local_time("", PARIS) is None
    with pytest.raises(RecordError):
        local_time("yesterday", PARIS)
    assert modified_at({"date_upd": "0000-00-00 00:00:00", "date_add": "2026-01-15 10:00:00"}, PARIS) == datetime(
        2026, 1, 15, 9, 0, tzinfo=UTC
    )
    with pytest.raises(RecordError, match="date_upd"):
        modified_at({"date_upd": "0000-00-00 00:00:00"}, PARIS)


def test_associations_may_be_absent_or_hold_string_or_int_ids() -> None:
    assert association_ids({"id": 1}, "categories") == []
    assert association_ids({"associations": {"categories": [{"id": "2"}, {"id": 3}, {"id": "2"}]}}, "categories") == [
        "2",
        "3",
    ]


def test_order_states_map_by_template_names_and_flags_not_by_id() -> None:
    """This shop's ids differ from a default install (where 3 is "Processing in progress",
    5 "Delivered", 6 "Canceled", 8 "Payment error"): only the states' own data decides."""
    states = {state["id"]: order_status(state) for state in load_fixture("order_states.json")["order_states"]}
    assert states == {
        1: OrderStatus.PAID,  # Payment accepted
        2: OrderStatus.PENDING,  # Awaiting bank wire payment
        3: OrderStatus.CANCELLED,  # template order_canceled
        4: OrderStatus.COMPLETED,  # Delivered: shipped flag
        5: OrderStatus.REFUNDED,  # template refund
        6: OrderStatus.FAILED,  # template payment_error
        7: OrderStatus.PAID,  # Processing in progress: paid flag
        8: OrderStatus.COMPLETED,  # Shipped
        14: OrderStatus.CANCELLED,  # a state of the merchant's, no template: by its name
        15: OrderStatus.PAID,  # "Partial refund" keeps the order paid
        16: OrderStatus.PENDING,  # a payment module's waiting state
        17: OrderStatus.PAID,  # deleted state, still resolved for old orders
    }


def test_order_state_flags_alone_decide_when_names_say_nothing() -> None:
    blank = {"name": "Étape 4", "template": ""}
    assert order_status({**blank, "shipped": 1, "paid": 1, "logable": 1}) is OrderStatus.COMPLETED
    assert order_status({**blank, "paid": "0", "logable": "1"}) is OrderStatus.PAID
    assert order_status({**blank, "paid": "0", "logable": "0"}) is OrderStatus.PENDING
    assert order_status({"name": [{"id": 1, "value": "Storniert"}], "paid": "1"}) is OrderStatus.CANCELLED
