"""The WSGI fast path of WooCommerce deliveries (``webhooks.fastpath``) answers and stores as the Flask app does.

Each request is sent to the app without the fast path, then to the app with
it (same runtime, database and Redis): the status line, body and headers,
the rows stored, the request counters and the ids handed over must be the
same. The Flask view is counted, so a fast path that silently handed
everything to Flask would fail ``test_accepted_deliveries_do_not_reach_flask``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.store.deliveries import deliveries
from inbound.metrics import REQUESTS_KEY
from jobs.inbound import INCOMING
from tests.conftest import NOW
from tests.webhooks.conftest import SECRET, make_runtime
from tests.webhooks.payloads import delivery_headers, order, wp_json
from tests.webhooks.test_events_api import ORDER, SIGNUP
from webhooks.app import create_app
from webhooks.fastpath import FastIntake
from webhooks.signing import sign_relance

VIEW = "woocommerce.woocommerce_delivery"


def signed(topic: str = "order.created", payload: Any = None, secret: str = SECRET, **changes: str | None):
    body = payload if isinstance(payload, bytes) else wp_json(order() if payload is None else payload)
    headers = delivery_headers(topic, body, secret)
    for name, value in changes.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return body, headers


def _cases() -> dict[str, tuple[str, str, bytes, dict[str, str]]]:
    valid_body, valid_headers = signed()
    cases: dict[str, tuple[str, str, bytes, dict[str, str]]] = {
        "valid": ("POST", "/hooks/shop/woocommerce", valid_body, valid_headers),
        "bad signature": ("POST", "/hooks/shop/woocommerce", *signed(secret="not-the-secret")),
        "no signature": ("POST", "/hooks/shop/woocommerce", *signed(**{"X-WC-Webhook-Signature": None})),
        "unknown tenant": ("POST", "/hooks/nobody/woocommerce", valid_body, valid_headers),
        "invalid tenant name": ("POST", "/hooks/Shop/woocommerce", valid_body, valid_headers),
        "malformed JSON": ("POST", "/hooks/shop/woocommerce", *signed(payload=b"{not json")),
        "not an object": ("POST", "/hooks/shop/woocommerce", *signed(payload=b"[1, 2]")),
        "too deep": ("POST", "/hooks/shop/woocommerce", *signed(payload=b"[" * 40 + b"]" * 40)),
        "missing topic": ("POST", "/hooks/shop/woocommerce", *signed(**{"X-WC-Webhook-Topic": None})),
        "ignored topic": ("POST", "/hooks/shop/woocommerce", *signed(topic="coupon.created")),
        "ping": (
            "POST",
            "/hooks/shop/woocommerce",
            b"webhook_id=4",
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
        "oversize": ("POST", "/hooks/shop/woocommerce", b"{" + b" " * (1024 * 1024) + b"}", valid_headers),
        "wrong method": ("GET", "/hooks/shop/woocommerce", b"", {}),
        "other path": ("POST", "/hooks/shop/woocommerce/extra", valid_body, valid_headers),
        "wrong endpoint's signature": ("POST", "/events/shop", valid_body, valid_headers),
        "event": ("POST", "/events/shop", *events_post([ORDER, SIGNUP])),
        "event, bad signature": ("POST", "/events/shop", *events_post(ORDER, secret="not-the-secret")),
        "event, too old": ("POST", "/events/shop", *events_post(ORDER, at=NOW - timedelta(hours=1))),
        "event, invalid": ("POST", "/events/shop", *events_post({**ORDER, "contact": {"email": "nope"}})),
        "event, unknown tenant": ("POST", "/events/nobody", *events_post(ORDER)),
        "event, oversize": ("POST", "/events/shop", *events_post(b"[" + b" " * (1024 * 1024) + b"]")),
    }
    return cases


def events_post(payload: Any, secret: str = SECRET, at: datetime = NOW) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    header = sign_relance(body, secret, int(at.timestamp()))
    return body, {"X-Relance-Signature": header, "Content-Type": "application/json", "User-Agent": "PrestaShop"}


CASES = _cases()


def _stored(engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries).order_by(deliveries.c.id)).mappings().all()
    return [
        (row["tenant_id"], row["source"], row["topic"], row["headers"], bytes(row["body"]), row["state"])
        for row in rows
    ]


def _observe(engine, redis, client, case) -> tuple[Any, ...]:
    """Send ``case``; what a sender and the store see of it (new rows, counters, ids handed over)."""
    method, url, body, headers = case
    rows_before, counters_before = _stored(engine), redis.hgetall(REQUESTS_KEY)
    handed_before = redis.llen(INCOMING)
    response = client.open(url, method=method, data=body, headers=headers)
    counters = redis.hgetall(REQUESTS_KEY)
    counted = {key: int(value) - int(counters_before.get(key, 0)) for key, value in counters.items()}
    answer = response.get_data()
    delivery = json.loads(answer).get("delivery") if response.mimetype == "application/json" else None
    if delivery is not None:  # the ids differ (one row each); the rest must be equal
        answer = answer.replace(f'"delivery":{delivery}'.encode(), b'"delivery":ID')
    kept = {name: response.headers.get(name) for name in ("Content-Type", "Content-Length", "Retry-After", "Allow")}
    handed = redis.llen(INCOMING) - handed_before
    return response.status, answer, kept, _stored(engine)[len(rows_before) :], counted, handed


def _counting_view(app, endpoint: str = VIEW) -> Callable[[], int]:
    calls = []
    view = app.view_functions[endpoint]

    def counted(**kwargs: Any) -> Any:
        calls.append(1)
        return view(**kwargs)

    app.view_functions[endpoint] = counted
    return lambda: len(calls)


@pytest.mark.parametrize("name", list(CASES))
def test_the_fast_path_answers_and_stores_as_flask_does(engine, shop, runtime, redis, name):
    plain = create_app(runtime, TESTING=True, RELANCE_FAST_INTAKE=False)
    fast = create_app(runtime, TESTING=True)
    assert isinstance(fast.wsgi_app, FastIntake) and not isinstance(plain.wsgi_app, FastIntake)
    expected = _observe(engine, redis, plain.test_client(), CASES[name])
    got = _observe(engine, redis, fast.test_client(), CASES[name])
    assert got == expected


def test_accepted_deliveries_do_not_reach_flask_and_refusals_do(engine, shop, runtime, redis):
    fast = create_app(runtime, TESTING=True)
    flask_calls = _counting_view(fast)
    client = fast.test_client()
    events_calls = _counting_view(fast, "events.post_events")
    for name in ("valid", "ignored topic", "ping", "event"):
        method, url, body, headers = CASES[name]
        assert client.open(url, method=method, data=body, headers=headers).status_code in (200, 202)
    assert flask_calls() == 0
    assert events_calls() == 0
    method, url, body, headers = CASES["bad signature"]
    assert client.open(url, method=method, data=body, headers=headers).status_code == 401
    assert flask_calls() == 1  # the refusal was answered by Flask, with the body the fast path had read


def test_with_the_database_down_both_answer_503_once(tmp_path, clock, redis, redis_db):
    from sqlalchemy import Engine

    from core.store.db import make_engine
    from tests.conftest import REDIS_URL
    from tests.faults.conftest import free_port

    dead: Engine = make_engine(
        f"postgresql://postgres@127.0.0.1:{free_port()}/nothing", connect_args={"connect_timeout": 2}
    )
    rt = make_runtime(dead, tmp_path, clock, f"{REDIS_URL}/{redis_db}")
    plain = create_app(rt, TESTING=True, RELANCE_FAST_INTAKE=False)
    fast = create_app(rt, TESTING=True)
    flask_calls = _counting_view(fast)
    body, headers = signed("order.updated")
    answers = []
    for app in (plain, fast):
        response = app.test_client().post("/hooks/shop/woocommerce", data=body, headers=headers)
        answers.append((response.status, response.get_data(), dict(response.headers)))
    assert answers[0] == answers[1]
    assert answers[0][0] == "503 SERVICE UNAVAILABLE"
    assert answers[0][2]["Retry-After"] == "30"
    assert flask_calls() == 0  # answered by the fast path itself: the database is not waited for twice
