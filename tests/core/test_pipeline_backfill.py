"""Backfills know they are history: old orders and carts start nothing, and segments are computed once."""

from __future__ import annotations

from datetime import timedelta

from core.operations import finish_backfill, refresh_segments
from core.pipeline import history_before, ingest_page
from core.store import export
from tests.conftest import statements_run
from tests.flows.helpers import T0, cart, flow_tenant, item, order, person, runs


def _history_and_news(prefix: str) -> list:
    old, recent = T0 - timedelta(days=90), T0 - timedelta(hours=3)
    events = []
    for index in range(30):
        who = person(f"{prefix}{index}@example.fr")
        events.append(order(old + timedelta(days=index % 7), who, [item("p1")], f"{prefix}old{index}"))
        events.append(order(old + timedelta(days=40 + index % 5), who, [item("p2")], f"{prefix}again{index}"))
    events.append(cart(old, person(f"{prefix}0@example.fr"), [item("p3")], f"{prefix}oldcart"))
    events.append(order(recent, person(f"{prefix}new@example.fr"), [item("p1")], f"{prefix}new"))
    events.append(cart(recent, person(f"{prefix}cart@example.fr"), [item("p3")], f"{prefix}cart"))
    return events


def _started(engine, tenant) -> list[tuple[str, object]]:
    return sorted((row.flow, row.trigger_at) for row in runs(engine, tenant))


def test_a_backfill_starts_runs_for_recent_facts_only_like_one_event_at_a_time(engine):
    one, page = flow_tenant(engine, name="one"), flow_tenant(engine, name="page")
    assert history_before(page, T0) < T0 - timedelta(days=7)
    with engine.begin() as conn:
        for event in _history_and_news("a"):
            ingest_page(conn, one, [event], T0)
    with statements_run(engine) as counted, engine.begin() as conn:
        ingest_page(conn, page, _history_and_news("a"), T0, backfill=True)
    started = _started(engine, page)
    assert started == _started(engine, one)
    assert ("abandoned_cart", T0 - timedelta(hours=3)) in started
    assert all(trigger_at > T0 - timedelta(days=7) for _, trigger_at in started)
    # the 61 events of history run no flow statement: only the 2 recent ones do
    flows_statements = [s for s in counted if "flow_runs" in s]
    assert len(flows_statements) < 20, len(flows_statements)


def test_export_after_a_backfill_shows_segments_scores_and_predictions(engine):
    tenant = flow_tenant(engine, name="filled")
    with engine.begin() as conn:
        ingest_page(conn, tenant, _history_and_news("b"), T0, backfill=True)
    with engine.connect() as conn:
        before = list(export.iter_contacts(conn, tenant.id, "EUR", T0))
    assert all(not c["segments"] and c["p_active"] is None for c in before)  # no model before the first refresh
    with engine.begin() as conn:
        finish_backfill(conn, tenant, T0)
    with engine.connect() as conn:
        after = {c["email"]: c for c in export.iter_contacts(conn, tenant.id, "EUR", T0)}
    repeat = after["b1@example.fr"]
    assert repeat["segments"] and repeat["rfm"] and repeat["p_active"] is not None, repeat
    assert repeat["order_interval_days"] is not None and repeat["predicted_orders"] is not None, repeat


def _late(prefix: str) -> list:
    """More history for known customers (repeat buyers, a refund) and a new one, with a recent order."""
    events = [order(T0 - timedelta(days=20 + i), {"email": f"{prefix}{i}@example.fr"}, [item("p9")], f"{prefix}late{i}")
              for i in range(0, 30, 3)]  # fmt: skip
    events.append(order(T0 - timedelta(days=5), person(f"{prefix}fresh@example.fr"), [item("p2")], f"{prefix}fresh"))
    events.append(order(T0 - timedelta(hours=2), {"email": f"{prefix}4@example.fr"}, [item("p1")], f"{prefix}now"))
    return events


def _contacts(engine, tenant) -> dict:
    with engine.connect() as conn:
        found = {c["email"]: c for c in export.iter_contacts(conn, tenant.id, "EUR", T0)}
    for contact in found.values():
        for key in ("id", "created_at", "updated_at"):
            contact.pop(key, None)
    return found


def test_a_backfill_leaves_segments_to_its_end_and_ends_as_one_event_at_a_time_does(engine):
    """Pages of a backfill update no contact's metrics or segments (no segment event on the way): the run's
    ``finish_backfill`` ends with the same contacts as reacting to each event, then refreshing."""
    each, shortcut = flow_tenant(engine, name="each"), flow_tenant(engine, name="shortcut")
    for tenant in (each, shortcut):  # a first run: the models are fitted, segments kept current from then on
        with engine.begin() as conn:
            ingest_page(conn, tenant, _history_and_news("c"), T0, backfill=True)
            finish_backfill(conn, tenant, T0)
    with engine.begin() as conn:
        for event in _late("c"):
            ingest_page(conn, each, [event], T0)
        refresh_segments(conn, each, T0, metrics=True)
    before = _contacts(engine, shortcut)
    with engine.begin() as conn:
        ingest_page(conn, shortcut, _late("c"), T0, backfill=True)
    during = _contacts(engine, shortcut)
    assert {email: c["segments"] for email, c in during.items() if email in before} == {
        email: c["segments"] for email, c in before.items()
    }
    with engine.begin() as conn:
        finish_backfill(conn, shortcut, T0)
    after = _contacts(engine, shortcut)
    assert after["c3@example.fr"]["orders_count"] == 3 and after["cfresh@example.fr"]["segments"]
    assert after == _contacts(engine, each)
    assert any(before[email]["segments"] != contact["segments"] for email, contact in after.items() if email in before)
