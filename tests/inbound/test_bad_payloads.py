"""Every bad input a clean rejection: the Event API answers 400 naming the event and field; a WooCommerce
delivery processed later is failed with the reason, once, never retried with a traceback.

Through the real app, the real Redis and a real RQ worker, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store.deliveries import deliveries
from core.store.schema import contacts, events, orders
from inbound.deliveries import store_delivery
from jobs.inbound import run_delivery
from tests.webhooks.conftest import ORIGIN, PUBLIC_KEY, SECRET
from tests.webhooks.payloads import delivery_headers, order, wp_json
from webhooks.signing import sign_relance

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GOOD = {
    "type": "track",
    "event": "order_placed",
    "message_id": "ps-order-31-1",
    "timestamp": "2026-11-23T10:15:00+01:00",
    "contact": {"email": "marie@example.fr", "first_name": "Marie"},
    "properties": {
        "order_id": "31",
        "status": "paid",
        "currency": "EUR",
        "total": "49.90",
        "items": [{"product_id": "7", "name": "Mug", "quantity": 2, "price": "24.95"}],
    },
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the value at ``path`` (dots and [i]) replaced."""
    raw = copy.deepcopy(GOOD)
    parts = path.replace("[", ".").replace("]", "").split(".")
    target: Any = raw
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return raw


#: The bad inputs of the fuzzing report (issue 12), each with the field and the reason it must be refused for.
BAD_EVENTS = [
    ("timestamp", "0000-00-00", "timestamp: is required"),
    ("timestamp", "", "timestamp: is required"),
    ("timestamp", "0001-01-01T00:00:00+05:00", "timestamp: date and time out of range"),
    ("contact.first_name", "Ma\x00rie", "contact.first_name: contains a NUL character"),
    ("properties.note", {"k": "a\x00b"}, "properties.note.k: contains a NUL character"),
    ("properties.total", "1" + "0" * 30, "properties.total: amount out of range"),
    ("properties.items[0].quantity", 10**12, "properties.items[0].quantity: is out of range"),
    ("contact.email", "a" * 400 + "@example.com", "contact.email: is longer than 320 characters"),
    ("properties.items[0].name", "n" * 501, "properties.items[0].name: is longer than 500 characters"),
]


def post_events(client, payload: Any) -> Any:
    body = json.dumps(payload).encode()
    header = sign_relance(body, SECRET, int(NOW.timestamp()))
    return client.post(
        "/events/shop", data=body, headers={"X-Relance-Signature": header, "Content-Type": "application/json"}
    )


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize(("path", "value", "reason"), BAD_EVENTS)
def test_the_event_api_answers_400_naming_the_event_and_field(engine, shop, client, path, value, reason):
    response = post_events(client, [GOOD, _with(path, value)])
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith(f"events[1].{reason}"), error
    assert "\n" not in error and "a" * 100 not in error  # one line, the value not quoted
    assert count(engine, deliveries) == 0  # nothing stored: the good event of the batch waits for a fixed batch


def _deliver_order(client, payload: dict[str, Any]) -> Any:
    body = wp_json(payload)
    return client.post("/hooks/shop/woocommerce", data=body, headers=delivery_headers("order.updated", body, SECRET))


WOO_BAD = [
    ({"total": "1" + "0" * 30}, "order 727: total: amount out of range"),
    ({"date_modified_gmt": "0000-00-00T00:00:00", "date_modified": "", "date_created_gmt": "", "date_created": ""},
     "order 727: has neither date_modified nor date_created"),
    ({"number": "72\x007"}, "order 727: properties.number: contains a NUL character"),
    ({"billing": {**order()["billing"], "email": "z" * 400 + "@example.fr", "phone": ""}, "customer_id": 0},
     "order 727: has no billing email, phone or customer account"),
    ({"line_items": [{**order()["line_items"][0], "quantity": 10**12}]},
     "order 727: properties.items[0].quantity: is out of range"),
    ({"date_modified_gmt": "0001-01-01T00:00:00"}, "order 727: timestamp: is out of range (from 1900 to 2999"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "reason"), WOO_BAD)
def test_a_woocommerce_delivery_the_store_cannot_hold_fails_once_with_the_reason(
    engine, shop, client, work, caplog, changes, reason
):
    assert _deliver_order(client, order(**changes)).status_code == 200  # WooCommerce is answered: it was stored
    with caplog.at_level(logging.INFO):
        assert work() == 1
        assert work() == 0  # nothing is retried
    with engine.connect() as conn:
        [stored] = conn.execute(select(deliveries)).all()
    assert stored.state == "failed" and stored.attempts == 1
    assert stored.error.startswith(reason), stored.error
    assert count(engine, orders) == 0 and count(engine, events) == 0
    assert "Traceback" not in caplog.text
    assert "z" * 50 not in caplog.text and "zoe.angstrom" not in caplog.text  # no personal data in the logs


def test_a_stored_event_batch_that_became_unreadable_fails_naming_the_event(engine, shop, work, runtime):
    """A batch stored before the rules were this strict (or replayed) fails on processing, naming the event."""
    bad = [GOOD, _with("properties.total", "1" + "0" * 30)]
    with engine.begin() as conn:
        first = store_delivery(conn, shop.id, "events", "events", {}, json.dumps(bad).encode(), NOW)
        second = store_delivery(conn, shop.id, "events", "events", {}, b"[" * 5000 + b"]" * 5000, NOW)
    for delivery_id in (first, second):
        try:
            run_delivery(delivery_id)
        except Exception as exc:  # noqa: BLE001 - the assertion below says what went wrong
            raise AssertionError(f"delivery {delivery_id} raised {exc!r}: it would be retried") from exc
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.id)).all()
    assert [(r.state, r.attempts) for r in rows] == [("failed", 1), ("failed", 1)]
    assert rows[0].error.startswith("events[1].properties.total: amount out of range"), rows[0].error
    assert rows[1].error.startswith("the body is not JSON we can read (nested too deeply)"), rows[1].error


def test_a_tracker_event_with_a_nul_is_left_out_and_the_others_are_stored(engine, shop, client, work):
    batch = {
        "key": PUBLIC_KEY,
        "anonymous_id": "anon-12345678",
        "events": [
            {"id": "1", "event": "page_viewed", "properties": {"url": "https://shop.example.com/a", "title": "A"}},
            {"id": "2", "event": "page_viewed", "properties": {"url": "https://shop.example.com/b", "title": "B\x00"}},
            {"id": "3", "type": "identify", "contact": {"email": "x" * 400 + "@example.fr"}},
        ],
    }
    response = client.post(
        "/collect/shop", data=json.dumps(batch), headers={"Origin": ORIGIN, "Content-Type": "text/plain"}
    )
    assert response.status_code in (200, 202, 204)
    work()
    with engine.connect() as conn:
        [stored] = conn.execute(select(deliveries)).all()
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 1
    assert stored.state == "processed" and stored.result["stored"] == 1
    assert stored.result["rejected"] == [
        "events[1]: properties.title: contains a NUL character (at position 2); remove it",
        "events[2]: contact.email: is longer than 320 characters",
    ]
