"""The tracker: /t/<tenant>.js and POST /collect/<tenant> (key, origins, CORS, Do Not Track)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from core.errors import ConfigError
from core.store.deliveries import deliveries
from core.store.schema import cart_items, carts, consents, contact_identities, contacts, events
from core.tracker import validate
from tests.conftest import make_tenant
from tests.webhooks.conftest import ORIGIN, PUBLIC_KEY

ANON = "a1b2c3d4e5f60718"


def batch(*items, key=PUBLIC_KEY, anonymous_id=ANON):
    return json.dumps({"key": key, "anonymous_id": anonymous_id, "events": list(items)})


def collect(client, body, origin=ORIGIN, **headers):
    if origin:
        headers["Origin"] = origin
    return client.post("/collect/shop", data=body, headers={"Content-Type": "text/plain;charset=UTF-8", **headers})


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_script_is_served_with_the_tenant_settings(engine, shop, client):
    response = client.get("/t/shop.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert "max-age=300" in response.headers["Cache-Control"]
    script = response.get_data(as_text=True)
    assert '"endpoint": "http://relance.test/collect/shop"' in script
    assert f'"key": "{PUBLIC_KEY}"' in script
    assert '"respectDnt": true' in script
    assert "RELANCE_CONFIG" not in script
    assert len(response.data) < 10_000  # a few KB, no dependency


def test_no_script_for_an_unknown_tenant_or_one_without_tracker(engine, shop, client):
    assert client.get("/t/nobody.js").status_code == 404
    make_tenant(engine, "plain")
    assert client.get("/t/plain.js").status_code == 404


def test_a_batch_from_an_allowed_origin_is_stored_with_cors_headers_then_ingested(engine, shop, client, work):
    body = batch(
        {"id": "1", "event": "page_viewed", "properties": {"url": f"{ORIGIN}/", "title": "Home"}},
        {
            "id": "2",
            "event": "product_viewed",
            "properties": {"product_id": "93", "name": "Woo Single #1", "price": "14.50"},
        },
        {
            "id": "3",
            "event": "cart_updated",
            "properties": {
                "currency": "EUR",
                "total": "29.00",
                "items": [{"product_id": "93", "name": "Woo Single #1", "quantity": 2, "price": "14.50"}],
            },
        },
    )
    response = collect(client, body)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in response.headers["Vary"]
    work()
    assert count(engine, events) == 3
    with engine.connect() as conn:
        cart = conn.execute(select(carts)).one()
        identity = conn.execute(select(contact_identities)).one()
    assert (cart.external_id, str(cart.total), cart.item_count) == (f"tracker-{ANON}", "29.0000", 2)
    assert count(engine, cart_items) == 1
    assert (identity.kind, identity.value) == ("anonymous", ANON)


def test_identify_merges_the_visitor_and_is_never_consent(engine, shop, client, work):
    collect(client, batch({"id": "1", "event": "page_viewed", "properties": {"url": ORIGIN}}))
    work()
    collect(
        client,
        batch(
            {"id": "2", "type": "identify", "contact": {"email": "Marie@Example.fr", "consent": {"email": True}}},
            {
                "id": "3",
                "event": "newsletter_subscribed",
                "contact": {"email": "marie@example.fr"},
                "properties": {"list": "footer"},
            },
        ),
    )
    work()
    with engine.connect() as conn:
        [contact] = conn.execute(select(contacts)).all()
    assert contact.email == "marie@example.fr"
    assert contact.email_consent is None
    assert count(engine, consents) == 0


def test_the_same_batch_sent_twice_is_stored_once(engine, shop, client, work):
    body = batch({"id": "k1", "event": "page_viewed", "properties": {"url": ORIGIN}})
    collect(client, body)
    collect(client, body)
    work()
    assert count(engine, deliveries) == 2
    assert count(engine, events) == 1


def test_an_origin_not_allowed_is_refused_403_without_cors(engine, shop, client):
    body = batch({"event": "page_viewed"})
    response = collect(client, body, origin="https://evil.example.net")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert collect(client, body, origin=None).status_code == 403
    assert count(engine, deliveries) == 0


def test_a_wrong_key_is_refused_401(engine, shop, client):
    response = collect(client, batch({"event": "page_viewed"}, key="pk_wrong_0123456789abcd"))
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN  # so that the script can read the error
    assert count(engine, deliveries) == 0


def test_do_not_track_and_global_privacy_control_are_acknowledged_and_dropped(engine, shop, client):
    assert collect(client, batch({"event": "page_viewed"}), DNT="1").status_code == 204
    assert collect(client, batch({"event": "page_viewed"}), **{"Sec-GPC": "1"}).status_code == 204
    assert count(engine, deliveries) == 0


def test_a_shop_may_turn_do_not_track_off(engine, client):
    make_tenant(
        engine,
        "shop",
        webhook_secret="x" * 20,
        tracker={"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN], "respect_dnt": False},
    )
    assert collect(client, batch({"event": "page_viewed"}), DNT="1").status_code == 204
    assert count(engine, deliveries) == 1


@pytest.mark.parametrize(
    "body, reason",
    [
        ("{oops", "not valid JSON"),
        (json.dumps([1]), "JSON object"),
        (json.dumps({"key": PUBLIC_KEY, "anonymous_id": "x", "events": [{}]}), "anonymous_id"),
        (json.dumps({"key": PUBLIC_KEY, "anonymous_id": ANON, "events": []}), "events"),
        (json.dumps({"key": PUBLIC_KEY, "anonymous_id": ANON, "events": [{}] * 51}), "events"),
    ],
)
def test_malformed_batches_are_refused_400(engine, shop, client, body, reason):
    response = collect(client, body)
    assert response.status_code == 400
    assert reason in response.get_json()["error"]


def test_events_the_tracker_may_not_send_are_left_out_and_reported(engine, shop, client, work):
    collect(
        client,
        batch(
            {"id": "1", "event": "order_placed", "properties": {"order_id": "1", "currency": "EUR", "total": "9"}},
            {"id": "2", "event": "page_viewed", "properties": {"url": ORIGIN}},
        ),
    )
    work()
    assert count(engine, events) == 1
    with engine.connect() as conn:
        stored = conn.execute(select(deliveries)).one()
    assert stored.state == "processed"
    assert "order_placed" in stored.result["rejected"][0]


def test_preflight_is_answered_for_allowed_origins_only(engine, shop, client):
    ok = client.options("/collect/shop", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    denied = client.options("/collect/shop", headers={"Origin": "https://evil.example.net"})
    assert denied.status_code == 403


def test_tracker_settings_are_validated():
    assert validate(None, "tracker") == {}
    ok = validate({"public_key": PUBLIC_KEY, "allowed_origins": "HTTPS://Shop.Example.com:443/"}, "tracker")
    assert ok == {"public_key": PUBLIC_KEY, "allowed_origins": ["https://shop.example.com"]}
    for bad, where in [
        ({"public_key": "short", "allowed_origins": [ORIGIN]}, "tracker.public_key"),
        ({"public_key": PUBLIC_KEY}, "tracker.allowed_origins"),
        (
            {"public_key": PUBLIC_KEY, "allowed_origins": ["https://shop.example.com/path"]},
            "tracker.allowed_origins[0]",
        ),
        ({"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN], "respect_dnt": "yes"}, "tracker.respect_dnt"),
        ({"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN], "cookie_days": 1000}, "tracker.cookie_days"),
        ({"publickey": PUBLIC_KEY}, "tracker.publickey"),
    ]:
        with pytest.raises(ConfigError, match="^" + re.escape(where) + ":"):
            validate(bad, "tracker")
