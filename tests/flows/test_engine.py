"""The engine: a retried step sends once, concurrent workers send once, tenants' own flows."""

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from core.flows.engine import process_runs
from core.flows.store.runs import claim_due_runs
from core.flows.store.schema import flow_runs
from core.pipeline import ingest
from core.store.schema import contacts
from core.store.schema import events as stored_events
from core.store.tenants import get_tenant

from .helpers import ONLY_CART, at, cart, flow_tenant, identify, item, outbox, person, run, runs, track

MARIE = person("marie@example.fr")


def _started(engine, flows=ONLY_CART):
    tenant = flow_tenant(engine, flows)
    with engine.begin() as conn:
        shop = get_tenant(conn, tenant.name)
        ingest(conn, shop, cart(at(), MARIE, [item("p1")]), at())
    return shop


def test_a_retried_step_sends_once(engine):
    shop = _started(engine)
    ids = [r.id for r in runs(engine, shop)]
    with engine.begin() as conn:
        first = process_runs(conn, shop, ids, at(hours=1))
    with engine.begin() as conn:  # the same job again (RQ retry, or a duplicate job)
        second = process_runs(conn, shop, ids, at(hours=1))
    assert len(first.sends) == 1 and second.sends == [] and second.runs == 0
    # a crash after the step but before the commit: everything rolls back, the retry sends once
    with pytest.raises(RuntimeError), engine.begin() as conn:
        process_runs(conn, shop, ids, at(hours=24))
        raise RuntimeError("worker killed")
    with engine.begin() as conn:
        process_runs(conn, shop, ids, at(hours=24))
    # a run put back on a step it already took (a restored backup): the message key holds
    with engine.begin() as conn:
        conn.execute(
            update(flow_runs).values(state="waiting", position=1, due_at=at(hours=24), step_due_at=at(hours=1))
        )
        process_runs(conn, shop, ids, at(hours=25))
    assert [(r.step, r.status) for r in outbox(engine, shop)] == [(1, "scheduled"), (2, "scheduled")]


def test_two_workers_on_the_same_runs_send_once(engine):
    shop = _started(engine)
    with engine.begin() as conn:
        due = claim_due_runs(conn, at(hours=1), 100)
    assert len(due) == 1
    with engine.begin() as conn:  # a second sweep while the claim holds finds nothing
        assert claim_due_runs(conn, at(hours=1, minutes=1), 100) == []
    with engine.begin() as conn:  # once the lease expires (the job was lost), it is claimed again
        assert len(claim_due_runs(conn, at(hours=1, minutes=11), 100)) == 1
    barrier = threading.Barrier(2)
    errors = []

    def work():
        try:
            barrier.wait()
            with engine.begin() as conn:
                process_runs(conn, shop, [due[0].id], at(hours=1, minutes=12))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [(r.step, r.status) for r in outbox(engine, shop)] == [(1, "scheduled")]


def test_a_flow_switched_off_cancels_its_waiting_runs(engine):
    shop = _started(engine)
    from core.sections import validate_tenant
    from core.store.tenants import upsert_tenant

    with engine.begin() as conn:
        config = validate_tenant({**shop.config.to_dict(), "flows": {"abandoned_cart": {"enabled": False}}})
        shop, _ = upsert_tenant(conn, config, at())
        process_runs(conn, shop, [r.id for r in runs(engine, shop)], at(hours=1))
    assert [(r.state, r.end_reason) for r in runs(engine, shop)] == [("cancelled", "flow_switched_off")]


CUSTOM = {
    **ONLY_CART,
    "abandoned_cart": {"enabled": False},
    "notify_email": "owner@shop.example",
    "custom": {
        "greeting": {
            "trigger": {"event": "account_created"},
            "steps": [
                {"if": {"tagged": "welcomed"}, "then": "end", "else": "next"},
                {"tag": "welcomed"},
                {"wait": {"hours": 2}},
                {"send": "email"},
                {"wait": {"days": 1, "until": "10:00"}},
                {"if": {"did": "order_placed"}, "then": "thanks", "else": "next"},
                {"send": "email", "template": "greeting/nudge"},
                {"emit": "newsletter_subscribed"},
                {"if": {"property": "country", "equals": "FR"}, "then": "next", "else": "end", "id": "thanks"},
                {"set": {"french": True}},
                {"notify": "A French customer went through the greeting flow"},
            ],
            "exit": ["order_refunded_by_hand"],
        },
        "newsletter": {
            "trigger": {"event": "newsletter_subscribed", "where": {"flow": "greeting"}},
            "steps": [{"send": "email", "marketing": False}],
            "reentry": "once",
        },
    },
}


def test_a_tenants_own_flows_with_conditions_actions_and_a_flow_started_by_another(engine):
    tenant = flow_tenant(engine, CUSTOM)
    events = [
        track("account_created", at(), person("fr@example.fr", country="FR")),
        track("account_created", at(), person("be@example.be", country="BE")),
        track("account_created", at(days=5), person("fr@example.fr", country="FR")),  # tagged: ends at once
    ]
    result = run(engine, tenant, events, until=at(days=10))
    by_person = {}
    for message in result.messages:
        by_person.setdefault(message.to, []).append((message.flow, message.step, message.time))
    assert by_person["fr@example.fr"] == [
        ("greeting", 1, at(hours=2)),
        # a day after 13:00 in Paris, then the next 10:00 there
        ("greeting", 2, datetime(2026, 3, 4, 9, 0, tzinfo=UTC)),
        ("newsletter", 1, datetime(2026, 3, 4, 9, 0, tzinfo=UTC)),  # transactional: not capped
    ]
    assert [f for f, _, _ in by_person["be@example.be"]] == ["greeting", "greeting", "newsletter"]
    assert [r.to_address for r in outbox(engine, tenant) if r.template == "notify_owner/1"] == ["owner@shop.example"]
    with engine.connect() as conn:
        attributes = dict(conn.execute(select(contacts.c.email, contacts.c.attributes)).all())
        emitted = conn.execute(
            select(stored_events.c.name, stored_events.c.source).where(stored_events.c.source == "relance")
        ).all()
    assert attributes["fr@example.fr"] == {"tags": ["welcomed"], "french": True}
    assert attributes["be@example.be"] == {"tags": ["welcomed"]}
    assert sorted(set(emitted)) == [("identify", "relance"), ("newsletter_subscribed", "relance")]


def test_a_condition_on_an_event_since_the_trigger_and_an_exit_goal(engine):
    tenant = flow_tenant(engine, CUSTOM)
    marie = person("marie@example.fr", country="FR")
    events = [
        track("account_created", at(), marie),
        track("order_placed", at(hours=5), marie, order_id="o1", status="pending", currency="EUR", total="5.00"),
        track("account_created", at(), person("gone@example.fr")),
        track("order_refunded_by_hand", at(hours=1), {"email": "gone@example.fr"}),
    ]
    result = run(engine, tenant, events, until=at(days=3))
    # Marie ordered after the trigger: no nudge, straight to "thanks" (France: the owner is told)
    assert [(m.to, m.step) for m in result.messages if m.flow == "greeting"] == [
        ("marie@example.fr", 1),
        ("owner@shop.example", 0),
    ]
    ended = {r.end_reason for r in runs(engine, tenant)}
    assert "goal" in ended


SEGMENT_FLOWS = {
    **ONLY_CART,
    "abandoned_cart": {"enabled": False},
    "custom": {
        "vip": {
            "trigger": {"segment": "big_spenders"},
            "steps": [
                {"if": {"in_segment": "vip"}},
                {"send": "email"},
                {"if": {"in_segment": "other"}},
                {"send": "email"},
            ],
        }
    },
}


def _segment_run(engine):
    from core.segments.store.schema import segment_members
    from core.store.contacts import find_contact_id

    tenant = flow_tenant(engine, SEGMENT_FLOWS)
    with engine.begin() as conn:
        shop = get_tenant(conn, tenant.name)
        ingest(conn, shop, identify(at(), MARIE), at())
        marie = find_contact_id(conn, shop.id, "marie@example.fr")
        conn.execute(
            segment_members.insert().values(tenant_id=shop.id, segment="vip", contact_id=marie, entered_at=at())
        )
        entered = track("segment_entered", at(hours=1), {"email": "marie@example.fr"}, segment="big_spenders")
        ingest(conn, shop, entered, at(hours=1))
        ingest(
            conn, shop, track("segment_entered", at(hours=1), {"email": "marie@example.fr"}, segment="x"), at(hours=1)
        )
    return shop


def test_a_segment_entry_starts_a_flow_and_membership_is_asked_to_the_segments(engine):
    shop = _segment_run(engine)
    (run_row,) = [r for r in runs(engine, shop) if r.flow == "vip"]
    with engine.begin() as conn:
        report = process_runs(conn, shop, [run_row.id], at(hours=1))
    assert [(r.flow, r.step, r.status) for r in outbox(engine, shop)] == [("vip", 1, "scheduled")]
    assert report.outcomes["run_done"] == 1  # not a member of "other": the run ended there


def test_a_run_that_cannot_be_evaluated_does_not_hold_back_the_batch(engine, monkeypatch):
    shop = _segment_run(engine)
    with engine.begin() as conn:
        ingest(conn, shop, cart(at(hours=1), MARIE, [item("p1")]), at(hours=1))

    def broken(*args: object) -> bool:
        raise RuntimeError("a bug in the segments area")

    monkeypatch.setattr("core.flows.engine.is_member", broken)  # the vip run's condition cannot be evaluated
    with engine.begin() as conn:
        flows_off = shop.config.to_dict()
        from core.sections import validate_tenant
        from core.store.tenants import upsert_tenant

        flows_off["flows"] = {**SEGMENT_FLOWS, "abandoned_cart": {}}
        shop, _ = upsert_tenant(conn, validate_tenant(flows_off), at())
        ingest(conn, shop, cart(at(hours=1), MARIE, [item("p1")], "c2"), at(hours=1))
    ids = [r.id for r in runs(engine, shop)]
    with engine.begin() as conn:
        report = process_runs(conn, shop, ids, at(hours=2))
    assert report.outcomes["run_error"] == 1
    assert [(r.flow, r.state, r.due_at) for r in runs(engine, shop) if r.flow == "vip"] == [
        ("vip", "waiting", at(hours=3))
    ]
    assert [(r.flow, r.step) for r in outbox(engine, shop)] == [("abandoned_cart", 1)]
