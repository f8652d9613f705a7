import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from core.errors import EventError
from core.events import BadLine, event_to_dict, order_of, parse_event, read_events
from core.model import UNSET, Channel, EventType, OrderStatus

ORDER = {
    "type": "track",
    "event": "order_placed",
    "message_id": "wc-order-1",
    "timestamp": "2026-11-23T10:15:00+01:00",
    "contact": {
        "email": "Marie.Dupont@Example.fr",
        "phone": "06 12 34 56 78",
        "country": "fr",
        "birthday": "1990-02-28",
        "consent": {"email": True, "sms": False},
    },
    "properties": {
        "order_id": 1001,
        "status": "paid",
        "currency": "eur",
        "total": 49.9,
        "items": [{"product_id": 7, "name": "Café", "quantity": 2, "price": "24.95", "categories": "Café en grains"}],
    },
}


def test_an_order_event_is_normalised():
    event = parse_event(ORDER)
    assert event.type is EventType.TRACK
    assert event.name == "order_placed"
    assert event.timestamp == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert event.contact.email == "marie.dupont@example.fr"
    assert event.contact.phone == "+33612345678"
    assert event.contact.country == "FR"
    assert event.contact.birthday == date(1990, 2, 28)
    assert event.contact.consent == {Channel.EMAIL: True, Channel.SMS: False}
    assert event.contact.city is UNSET
    order = order_of(event)
    assert order.order_id == "1001"
    assert order.status is OrderStatus.PAID
    assert order.currency == "EUR"
    assert order.total == Decimal("49.90")
    assert order.items[0].price == Decimal("24.95")
    assert order.items[0].categories == ("Café en grains",)


def test_round_trip_through_json():
    event = parse_event(ORDER)
    again = parse_event(json.loads(json.dumps(event_to_dict(event))))
    assert again == event


def test_null_clears_and_absent_changes_nothing():
    event = parse_event(
        {
            "type": "identify",
            "message_id": "m",
            "timestamp": "2026-01-01T00:00:00Z",
            "contact": {"email": "a@b.co", "city": None},
        }
    )
    assert event.contact.given() == {"email": "a@b.co", "city": None}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"type": "page"}, "type"),
        ({"message_id": ""}, "message_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "2026-11-23T10:15:00"}, "timestamp"),
        ({"contact": {"email": "nope"}}, "contact.email"),
        ({"contact": {"shoe_size": 42}}, "contact.shoe_size"),
        ({"contact": {"consent": {"fax": True}}}, "contact.consent.fax"),
        ({"contact": {}}, "contact"),
        ({"properties": {**ORDER["properties"], "status": "shipped"}}, "properties.status"),
        ({"properties": {**ORDER["properties"], "total": "12,50"}}, "properties.total"),
        ({"properties": {**ORDER["properties"], "items": [{"quantity": 1.5}]}}, "properties.items[0].quantity"),
        ({"color": "red"}, "color"),
    ],
)
def test_bad_events_name_the_bad_field(change, path):
    with pytest.raises(EventError) as info:
        parse_event({**ORDER, **change})
    assert str(info.value).startswith(path + ":")


def test_a_mistyped_phone_does_not_cost_the_order():
    event = parse_event({**ORDER, "contact": {"email": "a@b.co", "phone": "12"}})
    assert event.contact.phone is UNSET


def test_catalogue_events_need_no_contact():
    event = parse_event(
        {
            "type": "track",
            "event": "product_updated",
            "message_id": "p",
            "timestamp": "2026-01-01T00:00:00Z",
            "properties": {"product_id": 5, "price": "9.90"},
        }
    )
    assert event.properties["product_id"] == "5"


def test_read_events_reports_bad_lines_by_number_and_goes_on():
    lines = io.StringIO(
        "# a comment\n\n"
        + json.dumps(ORDER)
        + "\n{not json}\n"
        + json.dumps({**ORDER, "message_id": "2", "contact": {"email": "x"}})
        + "\n"
        + json.dumps({**ORDER, "message_id": "3"})
        + "\n"
    )
    items = list(read_events(lines))
    assert [type(i).__name__ for i in items] == ["Event", "BadLine", "BadLine", "Event"]
    assert items[1] == BadLine(4, items[1].reason) and "invalid JSON" in items[1].reason
    assert items[2].line == 5 and items[2].reason.startswith("contact.email")


def test_a_connector_may_hand_over_datetimes_and_decimals_and_gets_the_event_their_texts_give():
    """Mappings pass their parsed times and amounts rather than texts: the event is the same, repr and all."""
    created = datetime(2026, 11, 22, 8, 0, 0, 250000, tzinfo=UTC)
    updated = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)

    def order(when, start, total, price):
        raw = json.loads(json.dumps({**ORDER, "timestamp": None}))
        raw["timestamp"] = when
        raw["properties"].update(created_at=start, updated_at=when, total=total)
        raw["properties"]["items"][0]["price"] = price
        return raw

    typed = parse_event(order(updated, created, Decimal("49.9"), Decimal("24.950")))
    texts = parse_event(order("2026-11-23T09:15:00Z", "2026-11-22T08:00:00.250000Z", "49.90", "24.95"))
    assert repr(typed) == repr(texts)
    assert typed.properties["created_at"] == "2026-11-22T08:00:00.250000Z"
    assert typed.properties["total"] == "49.90"


def test_remembered_amounts_keep_the_sign_of_a_zero():
    """0 and -0 are equal (one key for an LRU) but not written alike: zeros are not remembered."""
    for first, second in ((Decimal("0"), Decimal("-0")), (Decimal("-0.00"), Decimal("0.000"))):
        got = [parse_event({**ORDER, "properties": {**ORDER["properties"], "total": v}}) for v in (first, second)]
        assert [e.properties["total"] for e in got] == [f"{first:.2f}", f"{second:.2f}"]


def test_a_naive_datetime_from_a_mapping_is_refused_like_a_text_without_offset():
    with pytest.raises(EventError, match="timestamp: date and time has no time zone offset"):
        parse_event({**ORDER, "timestamp": datetime(2026, 11, 23, 9, 15)})  # noqa: DTZ001 - the naive one refused
