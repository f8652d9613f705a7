"""What the parser accepts is stored as it is, on SQLite and PostgreSQL, through the production pipeline."""

from __future__ import annotations

from typing import Any

from hypothesis import assume, example, given

from core.errors import EventError
from core.events import parse_event
from tests.property.roundtrip import store_and_check
from tests.property.strategies import mutated, valid_events

AT_THE_LIMITS = {
    "type": "track",
    "event": "cart_updated",
    "message_id": "m" * 150,
    "timestamp": "1900-01-01T00:00:00Z",
    "anonymous_id": "a" * 200,
    "contact": {
        "email": "a" * 308 + "@example.com",
        "first_name": "é" * 200,
        "external_id": "x" * 200,
        "attributes": {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[["bottom"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
    },
    "properties": {
        "cart_id": "c" * 200,
        "items": [
            {"product_id": "p" * 200, "name": "n" * 500, "quantity": 2**31 - 2, "price": "0.0001"},
            {"product_id": "q", "quantity": 1, "price": "-99999999999.9999"},
        ],
        "recovery_url": "https://shop.example.com/" + "r" * 1970,
        "note": "\u202eunicode \U0001f600 \ufeff",
    },
}


@given(mutated(valid_events(), most=2))
@example(AT_THE_LIMITS)
@example({**AT_THE_LIMITS, "timestamp": "2999-12-31T23:59:59.999999-09:30"})
def test_an_accepted_event_is_stored_and_read_back_the_same(engine, raw: dict[str, Any]) -> None:
    try:
        event = parse_event(raw)
    except EventError:
        assume(False)
        return
    store_and_check(engine, event)
