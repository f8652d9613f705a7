"""POST /events/<tenant>: Event API v1 from shop modules, signed with X-Relance-Signature."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from core.store.deliveries import deliveries
from core.store.schema import consents, events, orders
from tests.conftest import NOW
from tests.webhooks.conftest import SECRET
from webhooks.signing import sign_relance

ORDER = {
    "type": "track",
    "event": "order_placed",
    "message_id": "ps-order-31-1",
    "timestamp": "2026-11-23T10:15:00+01:00",
    "contact": {"email": "Marie.Dupont@Example.fr", "first_name": "Marie", "country": "FR"},
    "properties": {
        "order_id": "31",
        "status": "paid",
        "currency": "EUR",
        "total": "49.90",
        "items": [{"product_id": "7", "name": "Mug", "quantity": 2, "price": "24.95"}],
    },
}
SIGNUP = {
    "type": "track",
    "event": "newsletter_subscribed",
    "message_id": "ps-nl-9",
    "timestamp": "2026-11-23T10:16:00Z",
    "contact": {"email": "marie.dupont@example.fr"},
    "properties": {"list": "footer"},
}


def post(client, payload, secret=SECRET, at=NOW, tenant="shop"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    header = sign_relance(body, secret, int(at.timestamp()))
    return client.post(
        f"/events/{tenant}", data=body, headers={"X-Relance-Signature": header, "Content-Type": "application/json"}
    )


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_one_event_is_accepted_202_stored_and_ingested(engine, shop, client, work):
    response = post(client, ORDER)
    assert response.status_code == 202
    assert response.get_json()["accepted"] == 1
    assert count(engine, deliveries) == 1
    work()
    with engine.connect() as conn:
        order = conn.execute(select(orders)).one()
        stored = conn.execute(select(deliveries)).one()
    assert (order.external_id, order.status, str(order.total)) == ("31", "paid", "49.9000")
    assert stored.state == "processed"


def test_a_batch_is_ingested_and_a_repost_changes_nothing(engine, shop, client, work):
    assert post(client, [ORDER, SIGNUP]).status_code == 202
    assert post(client, [ORDER, SIGNUP]).status_code == 202
    work()
    assert count(engine, events) == 2
    with engine.connect() as conn:
        [consent] = conn.execute(select(consents)).all()
    assert (consent.channel, consent.granted, consent.source) == ("email", True, "api")


def test_a_batch_over_100_events_is_refused(engine, shop, client):
    batch = [dict(SIGNUP, message_id=f"m{i}") for i in range(101)]
    response = post(client, batch)
    assert response.status_code == 400
    assert "1 to 100" in response.get_json()["error"]
    assert post(client, []).status_code == 400
    assert post(client, batch[:100]).status_code == 202


def test_an_invalid_event_is_refused_400_naming_it(engine, shop, client):
    bad = dict(SIGNUP, contact={"email": "not-an-email"})
    response = post(client, [ORDER, bad])
    assert response.status_code == 400
    assert response.get_json()["error"] == "events[1].contact.email: not an email address"
    assert count(engine, deliveries) == 0


def test_invalid_json_is_refused_400_with_the_reason(engine, shop, client):
    response = post(client, b'{"type": "track",')
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]


def test_a_bad_signature_or_an_old_one_is_refused_401(engine, shop, client):
    assert post(client, ORDER, secret="wrong").status_code == 401
    old = NOW.replace(hour=11)
    response = post(client, ORDER, at=old)
    assert response.status_code == 401
    assert "clock" in response.get_json()["error"]
    body = json.dumps(ORDER).encode()
    assert client.post("/events/shop", data=body).status_code == 401
    assert count(engine, deliveries) == 0


def test_unknown_tenant_is_404(engine, shop, client):
    assert post(client, ORDER, tenant="other").status_code == 404


def test_a_tenant_without_webhook_secret_cannot_receive_events(engine, client):
    from tests.conftest import make_tenant

    make_tenant(engine, "nosecret")
    response = post(client, ORDER, tenant="nosecret")
    assert response.status_code == 401
    assert "webhook_secret" in response.get_json()["error"]
