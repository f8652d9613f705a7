"""The Event API parser on any input: it accepts or refuses with EventError naming the field, never crashes."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from core.errors import EventError
from core.events import event_to_dict, parse_event
from core.limits import LIMITS
from tests.property.strategies import JSON, NASTY, NASTY_TEXTS, mutated, valid_events

#: The fields a rejection may start with ("event" is the whole event).
ROOTS = ("event", "type", "message_id", "timestamp", "anonymous_id", "source", "contact", "properties")
_ROOT = re.compile(r"^([A-Za-z0-9_-]+)(?=[.\[:]|$)")


def check_rejection(exc: Exception, raw: Any) -> None:
    """A rejection is "field.path: reason" on one line, and quotes no long value of the input."""
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 2000, message
    if message.startswith(("'", '"')):  # an unknown field, shown quoted because it is not a plain name
        return
    root = _ROOT.match(message)
    assert root, message
    # A known field, or an unknown top-level one that the input really has.
    assert root.group(1) in ROOTS or (isinstance(raw, dict) and root.group(1) in raw), message
    assert ": " in message and message.split(": ", 1)[1].strip(), message
    for text in NASTY_TEXTS:
        if len(text) > 60:
            assert text[:60] not in message, message


def parse_or_reject(raw: Any) -> Any:
    try:
        return parse_event(raw)
    except EventError as exc:
        check_rejection(exc, raw)
        return None


@given(mutated(valid_events()))
@example({"type": "identify", "message_id": "m", "timestamp": "0000-00-00", "contact": {"email": "a@b.co"}})
@example({"type": "identify", "message_id": "m", "timestamp": "", "contact": {"email": "a@b.co"}})
@example({"type": "identify", "message_id": "m", "timestamp": "2026-11-23T10:15:00Z", "contact": {"email": "a" * 400 + "@b.co"}})  # fmt: skip
def test_the_parser_accepts_or_names_the_field_it_refuses(raw: dict[str, Any]) -> None:
    event = parse_or_reject(raw)
    if event is not None:
        # Accepted is serialisable and reads back the same (what a stored event's JSON becomes again).
        again = parse_event(json.loads(json.dumps(event_to_dict(event))))
        assert again == event


@given(JSON | NASTY)
def test_any_json_at_all_is_refused_cleanly(raw: Any) -> None:
    parse_or_reject(raw)


@given(st.sampled_from(["contact.first_name", "properties.items[0].name", "message_id", "properties.note"]))
def test_a_nul_character_is_refused_naming_the_field(field: str) -> None:
    raw: dict[str, Any] = {
        "type": "track",
        "event": "order_placed",
        "message_id": "m-1",
        "timestamp": "2026-11-23T10:15:00Z",
        "contact": {"email": "a@b.co", "first_name": "Zoé"},
        "properties": {
            "order_id": "1",
            "currency": "EUR",
            "total": "1.00",
            "items": [{"product_id": "p", "name": "Mug", "price": "1.00"}],
        },
    }
    target: Any = raw
    parts = field.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[parts[-1]] = "before\x00after"
    try:
        parse_event(raw)
    except EventError as exc:
        assert str(exc).startswith(f"{field}: contains a NUL character"), exc
    else:
        raise AssertionError(f"{field} with a NUL character was accepted")


def test_each_limit_is_the_last_value_accepted() -> None:
    """At the limit is accepted, one past it is refused naming the field (the round trip proves the store holds it)."""

    def order(**changes: Any) -> dict[str, Any]:
        item = {"product_id": "p", "quantity": changes.pop("quantity", 1), "price": changes.pop("price", "1.00")}
        raw = {
            "type": "track",
            "event": "order_placed",
            "message_id": changes.pop("message_id", "m"),
            "timestamp": changes.pop("timestamp", "2026-11-23T10:15:00Z"),
            "contact": {"email": changes.pop("email", "a@b.co")},
            "properties": {"order_id": "1", "currency": "EUR", "total": changes.pop("total", "1.00"), "items": [item]},
        }
        return raw

    cases = [
        ("contact.email", "email", "a" * (LIMITS.email - 7) + "@b.co.u", "a" * (LIMITS.email - 6) + "@b.co.u"),
        ("message_id", "message_id", "m" * LIMITS.message_id, "m" * (LIMITS.message_id + 1)),
        ("properties.total", "total", "99999999999.9999", "99999999999.99995"),
        ("properties.items[0].quantity", "quantity", LIMITS.quantity, LIMITS.quantity + 1),
        ("properties.items[0].price", "price", "-99999999999.9999", "-1" + "0" * 30),
        ("timestamp", "timestamp", "1900-01-01T00:00:00Z", "1899-12-31T23:59:59Z"),
        ("timestamp", "timestamp", "2999-12-31T23:59:59Z", "3000-01-01T00:00:00Z"),
    ]
    for field, key, last, past in cases:
        parse_event(order(**{key: last}))
        try:
            parse_event(order(**{key: past}))
        except EventError as exc:
            assert str(exc).startswith(f"{field}: "), exc
        else:
            raise AssertionError(f"{field}: {past!r} was accepted")
