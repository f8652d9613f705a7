"""The newer flow steps (unsubscribe, suppress, webhook, branch on an event's property, notify) and the
post-purchase survey answered on its hosted page, with a simulated clock and a Flask test client."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from sqlalchemy import select

from core.flows.hooks import Answer, deliver_due, outcome
from core.flows.simulation import _Simulation
from core.flows.store.hooks import DELIVERED, FAILED, PENDING, hooks_of
from core.messages.compose import compose
from core.messages.store.schema import suppressions
from core.pipeline import ingest
from core.store.schema import consents, contacts, messages
from tests.messages.helpers import BASE_URL, SECRET, runtime
from webhooks.app import create_app
from webhooks.signing import verify_relance

from .helpers import OFF, at, flow_tenant, order, person, track

QUIET = {"abandoned_cart": OFF, "birthday": OFF, "cross_sell": OFF, "replenishment": OFF, "welcome": OFF}
HOOK_SECRET = "hook-secret-0123456789"


def custom(steps: list, trigger: str = "account_created") -> dict:
    return {**QUIET, "custom": {"steps_test": {"trigger": {"event": trigger}, "steps": steps}}}


def simulate_to(engine, tenant, events, until):
    simulation = _Simulation(engine, tenant, None)
    simulation.start(min(e.timestamp for e in events))
    for event in sorted(events, key=lambda e: e.timestamp):
        simulation.advance(event.timestamp)
        with engine.begin() as conn:
            ingest(conn, tenant, event, event.timestamp)
    simulation.advance(until)
    return simulation


def test_unsubscribe_suppress_and_branch_on_a_contact_field(engine):
    steps = [
        {"if": {"property": "attributes.visits", "at_least": 3}, "then": "next", "else": "quiet"},
        {"suppress": "email"},
        {"id": "quiet", "unsubscribe": "email", "reason": "gdpr_request"},
    ]
    tenant = flow_tenant(engine, custom(steps))
    events = [
        track("account_created", at(), person("few@example.fr", attributes={"visits": 1})),
        track("account_created", at(), person("many@example.fr", attributes={"visits": "7"})),
    ]
    simulate_to(engine, tenant, events, at(hours=1))
    with engine.connect() as conn:
        consent = dict(conn.execute(select(contacts.c.email, contacts.c.email_consent)).all())
        proof = conn.execute(select(consents.c.source, consents.c.detail).where(consents.c.granted.is_(False))).all()
        suppressed = conn.execute(select(suppressions.c.address, suppressions.c.reason)).all()
    assert consent == {"few@example.fr": False, "many@example.fr": False}  # every path ends unsubscribed
    assert sorted(p.detail.split(":")[0] for p in proof) == ["gdpr_request", "gdpr_request"]
    assert {p.source for p in proof} == {"relance"}
    assert [(s.address, s.reason) for s in suppressed] == [("many@example.fr", "flow")]


def test_a_webhook_step_is_recorded_once_then_delivered_signed_and_retried(engine):
    url = "https://crm.example.com/hooks/relance"
    tenant = flow_tenant(engine, custom([{"tag": "vip"}, {"webhook": url}]), webhook_secret=HOOK_SECRET)
    simulate_to(engine, tenant, [track("account_created", at(), person("vip@example.fr"))], at(hours=1))
    with engine.connect() as conn:
        [hook] = hooks_of(conn, tenant.id)
    assert (hook.status, hook.url, hook.payload["contact"]["email"], hook.payload["contact"]["tags"]) == (
        PENDING,
        url,
        "vip@example.fr",
        ["vip"],
    )

    calls = []

    def flaky(target, body, headers):
        calls.append((target, body, dict(headers)))
        return Answer(503) if len(calls) == 1 else Answer(204)

    now = at(hours=1)
    assert deliver_due(engine, flaky, now) == {"delivered": 0, "retried": 1, "failed": 0}
    assert deliver_due(engine, flaky, now + timedelta(seconds=30)) == {"delivered": 0, "retried": 0, "failed": 0}
    assert deliver_due(engine, flaky, now + timedelta(minutes=2)) == {"delivered": 1, "retried": 0, "failed": 0}
    target, body, headers = calls[-1]
    verify_relance(body, headers["X-Relance-Signature"], HOOK_SECRET, now + timedelta(minutes=2))
    assert target == url and headers["X-Relance-Delivery"] == str(hook.id)
    with engine.connect() as conn:
        assert [h.status for h in hooks_of(conn, tenant.id)] == [DELIVERED]


def test_a_webhook_answered_4xx_fails_for_good_and_5xx_gives_up_after_the_last_try():
    now = at()
    assert outcome(Answer(404), 1, now)[0] == FAILED
    assert outcome(Answer(0, "connection refused"), 1, now) == (
        PENDING,
        now + timedelta(minutes=1),
        "connection refused",
    )
    assert outcome(Answer(500), 6, now)[0] == FAILED


@pytest.fixture
def survey_shop(engine):
    flows = {
        **QUIET,
        "notify_email": "owner@shop.example",
        "post_purchase_survey": {"enabled": True, "review_url": "https://reviews.example/shop", "after_days": 7},
    }
    return flow_tenant(engine, flows, sender={"name": "Maison", "email": "bonjour@maison.example"})


def _survey_links(engine, tenant, email):
    with engine.connect() as conn:
        row = conn.execute(
            select(messages).where(messages.c.flow == "post_purchase_survey", messages.c.to_address == email)
        ).one()
        html = compose(conn, tenant, row, BASE_URL, SECRET).html
    return [unescape(h)[len(BASE_URL) :] for h in re.findall(r'href="([^"]+/survey/[^"]+)"', html)]


def _completed(when: datetime, contact: dict, order_id: str):
    return [order(when, contact, [{"product_id": "p1", "quantity": 1, "price": "10.00"}], order_id, "paid"),
            order(when + timedelta(days=1), contact, [{"product_id": "p1", "quantity": 1, "price": "10.00"}], order_id,
                  "completed")]  # fmt: skip


def test_a_low_score_notifies_the_shop_and_tags_and_a_high_one_invites_a_review(engine, tmp_path, survey_shop):
    tenant = survey_shop
    low, high = person("low@example.fr", first_name="Léa"), person("high@example.fr")
    events = [*_completed(at(), low, "o1"), *_completed(at(), high, "o2")]
    simulation = simulate_to(engine, tenant, events, at(days=8, hours=1))
    sent_at = at(days=8)
    assert sorted((m.flow, m.to, m.time) for m in simulation.result.messages) == [
        ("post_purchase_survey", "high@example.fr", sent_at),
        ("post_purchase_survey", "low@example.fr", sent_at),
    ]
    clock_now = [at(days=8, hours=2)]
    rt = runtime(engine, tmp_path, clock=lambda: clock_now[0])
    client = create_app(rt, TESTING=True).test_client()
    low_links, high_links = (
        _survey_links(engine, tenant, "low@example.fr"),
        _survey_links(engine, tenant, "high@example.fr"),
    )
    assert len(low_links) == 5

    page = client.get(low_links[0])  # score 1: one click, recorded at once, no JavaScript
    assert page.status_code == 200 and "1 / 5" in page.text and "<script" not in page.text
    commented = client.post(low_links[0], data={"comment": "Arrived broken"})
    assert commented.status_code == 200 and "comment" in commented.text.lower()
    happy = client.get(high_links[4])
    assert "https://reviews.example/shop" in happy.text  # a high score sees the review link at once
    assert client.get(high_links[4][:-4] + "abcd").status_code == 404  # a changed link records nothing

    simulation.advance(at(days=9))
    with engine.connect() as conn:
        rows = conn.execute(select(messages).order_by(messages.c.id)).all()
        tags = dict(conn.execute(select(contacts.c.email, contacts.c.attributes)).all())
        note = next(r for r in rows if r.template == "notify_owner/1")
        composed = compose(conn, tenant, note, BASE_URL, SECRET)
    assert (note.to_address, note.status, note.marketing) == ("owner@shop.example", "sent", False)
    assert "1 / 5" in composed.html and "Arrived broken" in composed.html and "low@example.fr" in composed.html
    assert tags["low@example.fr"].get("tags") == ["unhappy_customer"] and not tags["high@example.fr"].get("tags")
    review = [(r.to_address, r.step, r.status) for r in rows if r.flow == "post_purchase_survey" and r.step == 2]
    assert review == [("high@example.fr", 2, "sent")]


def test_no_answer_ends_the_survey_run_quietly(engine, survey_shop):
    simulation = simulate_to(engine, survey_shop, _completed(at(), person("mute@example.fr"), "o3"), at(days=40))
    assert [(m.flow, m.step) for m in simulation.result.messages] == [("post_purchase_survey", 1)]
    with engine.connect() as conn:
        assert not [r for r in conn.execute(select(messages)) if r.template == "notify_owner/1"]
