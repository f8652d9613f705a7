"""Unique coupons: created in the shop through its own API (fake APIs shaped like the real answers), shown in the
message; read-only tenants and refusals fall back to the fixed code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
from sqlalchemy import select

from connectors.registry import connector_for
from core.coupons.store.coupons import coupons_of
from core.store.schema import messages
from jobs.coupons import make_coupons

from .helpers import OFF, at, person, product, track
from .test_steps import simulate_to

QUIET = {"abandoned_cart": OFF, "birthday": OFF, "cross_sell": OFF, "replenishment": OFF, "welcome": OFF}
WIN_BACK = {"enabled": True, "segment": "sleepy", "coupon": "BACK15", "unique_coupon_percent": 15}
SHOP = "https://shop.example.com"

CREDENTIALS = {
    "woocommerce": {"consumer_key": "ck_0123456789", "consumer_secret": "cs_0123456789"},
    "prestashop": {"api_key": "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"},
    "magento": {"access_token": "token0123456789"},
}


def _tenant(engine, platform: str, create: bool = True):
    from tests.conftest import make_tenant

    flows = {**QUIET, "coupons": {"create": create}, "win_back": WIN_BACK}
    return make_tenant(engine, f"shop-{platform}", platform, url=SHOP, credentials=CREDENTIALS[platform], flows=flows)


def _client_for(tenant):
    return connector_for(tenant.config, sleep=lambda _: None).client


def _fake_api(mocked: responses.RequestsMock, platform: str) -> None:
    if platform == "woocommerce":

        def created(request):
            body = json.loads(request.body)
            answer = {"id": 720, "code": body["code"].lower(), "amount": body["amount"],
                      "discount_type": body["discount_type"], "usage_limit": body["usage_limit"],
                      "usage_limit_per_user": body["usage_limit_per_user"],
                      "email_restrictions": body.get("email_restrictions", []),
                      "date_expires": body["date_expires_gmt"], "date_expires_gmt": body["date_expires_gmt"]}  # fmt: skip
            return 201, {"Content-Type": "application/json"}, json.dumps(answer)

        mocked.add_callback(responses.POST, f"{SHOP}/wp-json/wc/v3/coupons", callback=created)
    elif platform == "prestashop":

        def created(request):
            body = request.body.decode()
            code = body.split("<code>")[1].split("</code>")[0]
            rule = {"cart_rule": {"id": 31, "code": code, "quantity": "1", "quantity_per_user": "1",
                                  "reduction_percent": "15.00", "active": "1"}}  # fmt: skip
            return 201, {"Content-Type": "application/json"}, json.dumps(rule)

        mocked.add_callback(responses.POST, f"{SHOP}/api/cart_rules", callback=created)
    else:
        mocked.add(responses.POST, f"{SHOP}/rest/all/V1/salesRules",
                   json={"rule_id": 57, "name": "Relance win_back #1", "uses_per_coupon": 1, "coupon_type": "SPECIFIC_COUPON",
                         "use_auto_generation": True, "simple_action": "by_percent", "discount_amount": 15})  # fmt: skip
        mocked.add(responses.POST, f"{SHOP}/rest/all/V1/coupons/generate", json=["RL-K2J8QX4ZPA"])


@pytest.mark.parametrize("platform", ["woocommerce", "prestashop", "magento"])
def test_a_unique_coupon_is_created_in_the_shop_and_shown_in_the_message(engine, platform):
    tenant = _tenant(engine, platform)
    sam = person("sam@example.fr")
    events = [product(at(days=-10), "p1"), track("account_created", at(days=-5), sam),
              track("segment_entered", at(), sam, segment="sleepy")]  # fmt: skip
    simulation = simulate_to(engine, tenant, events, at(minutes=5))
    assert simulation.result.messages == []  # the message waits for its code
    with engine.connect() as conn:
        held = conn.execute(select(messages.c.status, messages.c.reason)).all()
    assert [(h.status, h.reason) for h in held] == [("held", "coupon")]

    with responses.RequestsMock() as mocked:
        _fake_api(mocked, platform)
        assert make_coupons(engine, at(minutes=6), _client_for)["created"] == 1
        calls = list(mocked.calls)
    simulation.advance(at(minutes=7))
    with engine.connect() as conn:
        [coupon] = coupons_of(conn, tenant.id)
        [message] = conn.execute(select(messages).where(messages.c.flow == "win_back")).all()
    assert coupon.status == "created" and coupon.code and coupon.expires_at == at(days=14)
    assert message.context["coupon"] == coupon.code != "BACK15" and message.status == "sent"
    assert message.due_at == at(minutes=6)  # woken by the job, not at the end of the wait
    if platform == "woocommerce":
        body = json.loads(calls[0].request.body)
        assert (body["discount_type"], body["amount"], body["usage_limit"], body["email_restrictions"]) == (
            "percent", "15.00", 1, ["sam@example.fr"])  # fmt: skip
    elif platform == "prestashop":
        body = calls[0].request.body.decode()
        assert "<quantity>1</quantity><quantity_per_user>1</quantity_per_user>" in body
        assert "<reduction_percent>15.00</reduction_percent>" in body and f"<code>{coupon.code}</code>" in body
    else:
        rule = json.loads(calls[0].request.body)["rule"]
        assert (rule["uses_per_coupon"], rule["simple_action"], rule["to_date"]) == (1, "by_percent", "2026-03-16")
        assert json.loads(calls[1].request.body)["couponSpec"]["rule_id"] == 57


def test_a_read_only_tenant_writes_nothing_and_gets_the_fixed_code(engine):
    tenant = _tenant(engine, "woocommerce", create=False)
    sam = person("sam@example.fr")
    simulation = simulate_to(
        engine, tenant, [product(at(days=-1), "p1"), track("segment_entered", at(), sam, segment="sleepy")], at(hours=1)
    )
    with responses.RequestsMock():  # any request would fail the test
        assert make_coupons(engine, at(hours=1), _client_for) == {"created": 0, "skipped": 0, "retried": 0, "failed": 0}
    assert [(m.flow, m.time) for m in simulation.result.messages] == [("win_back", at())]
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.context)).scalar()["coupon"] == "BACK15"
        assert coupons_of(conn, tenant.id) == []


def test_a_key_without_write_access_falls_back_to_the_fixed_code(engine):
    tenant = _tenant(engine, "woocommerce")
    sam = person("sam@example.fr")
    simulation = simulate_to(
        engine,
        tenant,
        [product(at(days=-1), "p1"), track("segment_entered", at(), sam, segment="sleepy")],
        at(minutes=1),
    )
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, f"{SHOP}/wp-json/wc/v3/coupons", status=401,
                   json={"code": "woocommerce_rest_cannot_create", "message": "Sorry, you are not allowed to create resources.",
                         "data": {"status": 401}})  # fmt: skip
        assert make_coupons(engine, at(minutes=2), _client_for)["failed"] == 1
    simulation.advance(at(minutes=3))
    with engine.connect() as conn:
        [coupon] = coupons_of(conn, tenant.id)
        [message] = conn.execute(select(messages)).all()
    assert coupon.status == "failed" and "write access" in coupon.last_error
    assert (message.status, message.context["coupon"]) == ("sent", "BACK15")


def test_a_shop_that_does_not_answer_in_time_sends_the_fixed_code(engine):
    tenant = _tenant(engine, "magento")
    sam = person("sam@example.fr")
    simulation = simulate_to(
        engine, tenant, [product(at(days=-1), "p1"), track("segment_entered", at(), sam, segment="sleepy")], at(hours=2)
    )
    [message] = simulation.result.messages
    assert message.time == at(minutes=30)  # the step's wait, then the fallback
    with engine.connect() as conn:
        assert conn.execute(select(messages.c.context)).scalar()["coupon"] == "BACK15"
    assert timedelta(minutes=30) == message.time - at()
