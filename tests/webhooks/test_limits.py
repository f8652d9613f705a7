"""Limits at the edge: JSON nesting and size (400/413, never 500), rate limits on /collect (429), double opt-in."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.errors import ConfigError
from core.events import parse_event
from core.messages import optin
from core.pipeline import ingest
from core.store.deliveries import deliveries
from core.store.schema import messages
from core.tracker import validate
from inbound.errors import BadPayloadError
from tests.conftest import NOW, make_tenant
from tests.webhooks.conftest import ORIGIN, PUBLIC_KEY, SECRET, make_runtime
from tests.webhooks.payloads import delivery_headers, order, wp_json
from webhooks.app import create_app
from webhooks.intake import MAX_JSON_DEPTH
from webhooks.signing import sign_relance

ANON = "a1b2c3d4e5f60718"
DEEP = [b"[" * 975, b'{"a":' * 975, b"[" * 975 + b"]" * 975, b'{"a":' * 200 + b"1" + b"}" * 200]


def collect(client, *items, address="203.0.113.7", origin=ORIGIN):
    body = json.dumps({"key": PUBLIC_KEY, "anonymous_id": ANON, "events": list(items)})
    return client.post(
        "/collect/shop",
        data=body,
        headers={"Origin": origin, "Content-Type": "text/plain;charset=UTF-8"},
        environ_base={"REMOTE_ADDR": address},
    )


def page(n=1):
    return {"id": f"p{n}", "event": "page_viewed", "properties": {"url": f"{ORIGIN}/{n}"}}


def signup(email="marie@example.fr"):
    return {
        "id": email,
        "event": "newsletter_subscribed",
        "contact": {"email": email},
        "properties": {"list": "footer"},
    }


def stored(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(deliveries)).scalar_one()


def limited_shop(engine, **limits):
    return make_tenant(
        engine,
        "shop",
        webhook_secret=SECRET,
        tracker={"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN], "limits": limits},
    )


# JSON nesting and size


@pytest.mark.parametrize("body", DEEP, ids=["arrays", "objects", "closed-arrays", "objects-200"])
def test_deeply_nested_json_is_a_400_on_every_endpoint_never_a_500(engine, shop, client, body):
    hook = client.post("/hooks/shop/woocommerce", data=body, headers=delivery_headers("order.created", body, SECRET))
    signature = sign_relance(body, SECRET, int(NOW.timestamp()))
    events = client.post("/events/shop", data=body, headers={"X-Relance-Signature": signature})
    tracker = client.post("/collect/shop", data=body, headers={"Origin": ORIGIN})
    for response in (hook, events, tracker):
        assert response.status_code == 400, response.get_data(as_text=True)
        assert f"at most {MAX_JSON_DEPTH}" in response.get_json()["error"]
    assert stored(engine) == 0


def test_brackets_inside_strings_do_not_count_as_nesting(engine, shop, client):
    payload = order(customer_note="[[[[{{{{" * 100 + '\\"]]]"')
    body = wp_json(payload)
    response = client.post(
        "/hooks/shop/woocommerce", data=body, headers=delivery_headers("order.created", body, SECRET)
    )
    assert response.status_code == 200
    assert stored(engine) == 1


def test_nesting_at_the_limit_is_accepted(engine, shop, client):
    deep = {"a": 1}
    for _ in range(MAX_JSON_DEPTH - 4):
        deep = {"a": deep}
    event = {"type": "track", "event": "x", "message_id": "m1", "contact": {"email": "a@example.com"}}
    body = json.dumps([{**event, "properties": {"deep": deep}}]).encode()
    signature = sign_relance(body, SECRET, int(NOW.timestamp()))
    response = client.post("/events/shop", data=body, headers={"X-Relance-Signature": signature})
    assert response.status_code != 500
    assert response.status_code in (202, 400)


def test_bodies_over_the_limits_are_413(engine, shop, client):
    big = b'{"a": "' + b"x" * (1024 * 1024) + b'"}'
    hook = client.post("/hooks/shop/woocommerce", data=big, headers=delivery_headers("order.created", big, SECRET))
    assert hook.status_code == 413
    signature = sign_relance(big, SECRET, int(NOW.timestamp()))
    assert client.post("/events/shop", data=big, headers={"X-Relance-Signature": signature}).status_code == 413
    batch = json.dumps({"key": PUBLIC_KEY, "anonymous_id": ANON, "events": [page()], "pad": "x" * 300_000})
    tracker = client.post("/collect/shop", data=batch, headers={"Origin": ORIGIN})
    assert tracker.status_code == 413
    assert "256 KB" in tracker.get_json()["error"]
    assert stored(engine) == 0


# Rate limits on /collect


def test_batches_from_one_address_over_the_limit_get_429_with_retry_after(engine, client, clock):
    limited_shop(engine, batches_per_address="3/minute")
    answers = [collect(client, page(n)).status_code for n in range(5)]
    assert answers == [204, 204, 204, 429, 429]
    refused = collect(client, page(9))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN  # the page's script can read the answer
    assert "tracker.limits.batches_per_address" in refused.get_json()["error"]
    assert collect(client, page(10), address="198.51.100.20").status_code == 204  # another visitor
    assert stored(engine) == 4
    clock.advance(minutes=1)
    assert collect(client, page(11)).status_code == 204  # a new window


def test_the_tenant_wide_limit_counts_every_address(engine, client):
    limited_shop(engine, batches_per_tenant="4/hour")
    answers = [collect(client, page(n), address=f"198.51.100.{n}").status_code for n in range(6)]
    assert answers == [204] * 4 + [429] * 2
    assert stored(engine) == 4


def test_signups_have_their_own_stricter_limit(engine, client):
    limited_shop(engine, signups_per_address="2/hour")
    answers = [collect(client, signup(f"p{n}@example.com")).status_code for n in range(3)]
    assert answers == [204, 204, 429]
    assert collect(client, page()).status_code == 204  # browsing from that address still counts normally
    refused = collect(client, page(2), signup("q@example.com"))
    assert refused.status_code == 429
    assert "newsletter signups" in refused.get_json()["error"]


def test_the_default_limits_stop_a_flood_from_one_address(engine, shop, client):
    answers = [collect(client, page(n)).status_code for n in range(130)]
    assert answers.count(204) == 120
    assert answers.count(429) == 10


def test_client_addresses_are_not_written_to_redis(engine, shop, client, redis):
    collect(client, page())
    keys = b" ".join(redis.keys("*"))
    assert b"relance:limit:" in keys
    assert b"203.0.113.7" not in keys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_with_redis_down_browsing_fails_open_and_signups_fail_closed(engine, tmp_path, clock):
    limited_shop(engine, batches_per_address="1/hour")
    down = make_runtime(engine, tmp_path, clock, f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(down, TESTING=True).test_client()
    assert [collect(client, page(n)).status_code for n in range(3)] == [204, 204, 204]
    refused = collect(client, signup())
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "30"
    assert "retry" in refused.get_json()["error"]
    assert stored(engine) == 3


def test_limits_are_validated_in_the_tenant_file():
    base = {"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN]}
    assert validate({**base, "limits": {"signups_per_address": "3 / hours"}}, "tracker")["limits"] == {
        "signups_per_address": "3/hour"
    }
    with pytest.raises(ConfigError, match=r"tracker.limits.batches_per_address: '10/week' is not a rate"):
        validate({**base, "limits": {"batches_per_address": "10/week"}}, "tracker")
    with pytest.raises(ConfigError, match=r"tracker.limits.per_visitor: unknown limit"):
        validate({**base, "limits": {"per_visitor": "1/second"}}, "tracker")
    with pytest.raises(ConfigError, match=r"tracker.limits: must be a mapping"):
        validate({**base, "limits": "10/second"}, "tracker")
    with pytest.raises(ConfigError, match=r"is not a rate"):
        validate({**base, "limits": {"batches_per_tenant": "0/second"}}, "tracker")


# Double opt-in: one confirmation per address per week


def _signup(engine, tenant, email, now, n):
    raw = {
        "type": "track",
        "event": "newsletter_subscribed",
        "message_id": f"s-{n}",
        "timestamp": now.isoformat(),
        "contact": {"email": email},
    }
    with engine.begin() as conn:
        event = parse_event(raw, default_source="tracker")
        ingest(conn, tenant, event, now)  # the pipeline runs the double opt-in reaction


def test_one_double_opt_in_confirmation_per_address_per_week(engine, shop):
    monday = NOW - timedelta(days=NOW.weekday())
    for day, email in enumerate(["lea@example.com", "LEA@example.com", "lea@example.com"]):
        _signup(engine, shop, email, monday + timedelta(days=day), day)
    _signup(engine, shop, "other@example.com", monday, 10)
    with engine.connect() as conn:
        sent = conn.execute(select(messages.c.to_address).where(messages.c.flow == optin.FLOW)).scalars().all()
    assert sorted(sent) == ["lea@example.com", "other@example.com"]
    _signup(engine, shop, "lea@example.com", monday + timedelta(days=7), 20)
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).select_from(messages).where(messages.c.to_address == "lea@example.com")
        ).scalar_one()
    assert count == 2


def test_window_keys_change_with_the_week_and_hide_the_address():
    key = optin.dedupe_key("Lea@Example.com", NOW)
    assert key == optin.dedupe_key("lea@example.com ", NOW)
    assert "lea" not in key
    assert key != optin.dedupe_key("lea@example.com", NOW + timedelta(days=7))


EDGE_BODIES = [
    b'{"id": 727}',
    b"[1, 2]",
    b"NaN",
    b'{"total": Infinity}',
    b"123456789012345678901234567890",
    b'{"id": 123456789012345678901234567890}',
    b'\xef\xbb\xbf{"id": 1}',
    '{"id": 1}'.encode("utf-16"),
    b'{"note": "\\ud800"}',
    b'{"a": 1, "a": 2}',
    b"[1,]",
    b'{"a": "\x01"}',
    b"\xff\xfe\xfd",
    b"",
    b"[" * 40 + b"]" * 40,
]


@pytest.mark.parametrize("body", EDGE_BODIES)
def test_the_shape_check_accepts_and_refuses_what_the_json_parser_does(body):
    from webhooks.intake import json_shape, parse_json

    def outcome(parse):
        try:
            value = parse(body)
        except BadPayloadError as exc:
            return str(exc)
        return "object" if isinstance(value, dict) else "array" if isinstance(value, list) else "scalar"

    assert outcome(json_shape) == outcome(parse_json)
