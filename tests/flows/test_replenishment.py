"""Replenishment: learned repurchase intervals, a reminder 5 days before the predicted run-out."""

from datetime import UTC, datetime, timedelta

from core.flows.library.replenishment import run_daily
from core.flows.settings import tenant_flows
from core.pipeline import ingest
from core.store.recommendations import repurchase_intervals
from core.store.tenants import get_tenant

from .helpers import flow_tenant, item, order, person, product, run, runs

ONLY_REPLENISH = {
    "abandoned_cart": {"enabled": False},
    "birthday": {"enabled": False},
    "cross_sell": {"enabled": False},
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def history(gap_days: int = 30, buyers: int = 6) -> list:
    events = [product(utc(2025, 12, 1), "p1"), product(utc(2025, 12, 1), "p2")]
    for index in range(buyers):
        buyer = person(f"loyal{index}@example.fr", consent=None)
        first = utc(2026, 1, 2 + index, 10)
        events.append(order(first, buyer, [item("p1"), item("p2")], f"h{index}a"))
        events.append(order(first + timedelta(days=gap_days + index % 3 - 1), buyer, [item("p1")], f"h{index}b"))
    return events


def reminders(result):
    return [(m.time, m.to, m.products) for m in result.messages if m.flow == "replenishment"]


def test_the_reminder_comes_five_days_before_the_predicted_run_out(engine):
    tenant = flow_tenant(engine, ONLY_REPLENISH)
    lea = person("lea@example.fr")
    result = run(
        engine,
        tenant,
        history() + [order(utc(2026, 3, 2, 10), lea, [item("p1"), item("p2")], "o1")],
        until=utc(2026, 5, 1),
    )
    assert reminders(result) == [(utc(2026, 3, 27, 10), "lea@example.fr", ["p1"])]  # median 30 days - 5


def test_a_new_order_of_the_product_reschedules_the_reminder(engine):
    tenant = flow_tenant(engine, ONLY_REPLENISH)
    lea = person("lea@example.fr")
    events = history() + [
        order(utc(2026, 3, 2, 10), lea, [item("p1")], "o1"),
        order(utc(2026, 3, 20, 10), lea, [item("p1")], "o2"),
    ]
    result = run(engine, tenant, events, until=utc(2026, 5, 1))
    assert reminders(result) == [(utc(2026, 4, 14, 10), "lea@example.fr", ["p1"])]
    mine = [r for r in runs(engine, tenant) if r.flow == "replenishment" and r.trigger_at >= utc(2026, 3, 2)]
    assert [(r.state, r.end_reason) for r in mine] == [("cancelled", "reordered"), ("done", None)]


def test_a_value_in_the_settings_wins_over_learning(engine):
    flows = {**ONLY_REPLENISH, "replenishment": {"intervals": {"p2": 12}, "days_before": 2}}
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr")
    result = run(
        engine, tenant, history() + [order(utc(2026, 3, 2, 10), lea, [item("p2")], "o1")], until=utc(2026, 4, 1)
    )
    assert reminders(result) == [(utc(2026, 3, 12, 10), "lea@example.fr", ["p2"])]


def test_repurchase_intervals_are_medians_of_consecutive_purchases(engine):
    tenant = flow_tenant(engine, ONLY_REPLENISH)
    events = history(gap_days=30, buyers=5) + [
        # a same-day second order is the same purchase; a cancelled order does not count
        order(utc(2026, 1, 2, 18), person("loyal0@example.fr"), [item("p1")], "same-day"),
        order(utc(2026, 1, 20), person("loyal1@example.fr"), [item("p1")], "cancelled", status="cancelled"),
    ]
    run(engine, tenant, events, until=utc(2026, 3, 1))
    with engine.connect() as conn:
        learned = repurchase_intervals(conn, tenant.id, utc(2026, 3, 1), min_pairs=5)
        strict = repurchase_intervals(conn, tenant.id, utc(2026, 3, 1), min_pairs=6)
        before = repurchase_intervals(conn, tenant.id, utc(2026, 1, 15), min_pairs=1)
    # gaps: 29, 30, 31, 29, 30 days -> median 30; p2 was bought once by each
    assert learned == {"p1": 30.0}
    assert strict == {} and before == {}


def test_orders_loaded_by_an_import_get_their_reminder_at_the_daily_refresh(engine):
    tenant = flow_tenant(engine, ONLY_REPLENISH)
    import_time = utc(2026, 3, 3)
    with engine.begin() as conn:
        shop = get_tenant(conn, tenant.name)
        for event in history() + [order(utc(2026, 3, 2, 10), person("lea@example.fr"), [item("p1")], "o1")]:
            ingest(conn, shop, event, import_time)
    assert [r for r in runs(engine, tenant) if r.flow == "replenishment"] == []
    with engine.begin() as conn:
        started = run_daily(conn, shop, tenant_flows(shop.config.flows), import_time)
    started_runs = [r for r in runs(engine, tenant) if r.flow == "replenishment"]
    assert started == len(started_runs) > 1  # Lea, and the loyal buyers whose run-out is still ahead
    assert [r.due_at for r in started_runs if r.trigger_at == utc(2026, 3, 2, 10)] == [utc(2026, 3, 27, 10)]
    with engine.begin() as conn:
        assert run_daily(conn, shop, tenant_flows(shop.config.flows), import_time) == 0  # idempotent
