"""What the per-event reactions ask the database: the contact's waiting runs read once per event, the learned
repurchase intervals once per product and page, whether a contact is reachable once per event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from core.flows.library.replenishment import intervals_for
from core.flows.model import RunState
from core.flows.settings import tenant_flows
from core.flows.store.runs import end_runs, remembering_waiting, start_run, waiting_runs
from core.flows.store.schema import flow_intervals
from core.pipeline import ingest, ingest_page
from core.store.ingest import page_scope
from tests.conftest import make_tenant, statements_run

from .helpers import cart, flow_tenant, identify, item, order, person, runs

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def _contact(engine, tenant, email: str) -> int:
    with engine.begin() as conn:
        return ingest(conn, tenant, identify(NOW, person(email)), NOW).contact_id


def _start(conn, tenant, flow: str, contact_id: int, key: str) -> int | None:
    return start_run(conn, tenant.id, flow, contact_id, key, NOW, NOW + timedelta(hours=1), NOW)


def _updates(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE")]


def test_within_one_event_runs_of_flows_without_any_are_ended_without_a_statement(engine):
    tenant = make_tenant(engine)
    marie, paul = _contact(engine, tenant, "marie@example.fr"), _contact(engine, tenant, "paul@example.fr")
    with engine.begin() as conn:
        _start(conn, tenant, "win_back", marie, "before")  # started before the event
    with engine.begin() as conn, remembering_waiting(conn):
        with statements_run(engine) as ran:
            for flow in ("abandoned_cart", "welcome", "browse_abandonment"):
                assert end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flow=flow, contact_id=marie) == 0
            assert waiting_runs(conn, tenant.id, marie, "replenishment") == []
        assert len(ran) == 1 and not _updates(ran)  # the contact's flows with waiting runs, read once
        # a run started during the event is known at once, for this contact and no other
        assert _start(conn, tenant, "welcome", marie, "during") is not None
        assert [row.trigger_key for row in waiting_runs(conn, tenant.id, marie, "welcome")] == ["during"]
        assert end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flows=["welcome", "x"], contact_id=marie) == 1
        assert end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flow="win_back", contact_id=marie) == 1
        assert end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flow="welcome", contact_id=paul) == 0
        # runs named otherwise than by contact and flow are looked up as before
        _start(conn, tenant, "cross_sell", paul, "order:1")
        assert end_runs(conn, tenant.id, RunState.EXITED, "cancelled", NOW, flow="cross_sell", key="order:1") == 1


def test_outside_an_event_every_call_asks_the_database(engine):
    tenant = make_tenant(engine)
    marie = _contact(engine, tenant, "marie@example.fr")
    with engine.begin() as conn:
        with statements_run(engine) as ran:
            end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flow="welcome", contact_id=marie)
            end_runs(conn, tenant.id, RunState.EXITED, "ordered", NOW, flow="welcome", contact_id=marie)
        assert len(_updates(ran)) == 2


def test_an_order_still_ends_the_contacts_abandoned_cart_run_and_starts_its_own(engine):
    """The memo at work in a real reaction: the run an earlier event started is found and ended."""
    tenant = flow_tenant(engine, {"birthday": {"enabled": False}, "replenishment": {"enabled": False}})
    marie = person("marie@example.fr")
    with engine.begin() as conn:
        ingest(conn, tenant, cart(NOW, marie, [item("p1")]), NOW)
    with engine.begin() as conn:
        ingest(conn, tenant, order(NOW + timedelta(minutes=5), marie, [item("p1")], "o1"), NOW + timedelta(minutes=5))
    found = {(r.flow, r.state, r.end_reason) for r in runs(engine, tenant)}
    assert ("abandoned_cart", "exited", "ordered") in found
    assert ("cross_sell", "waiting", None) in found


def test_learned_intervals_are_read_once_per_product_within_a_page(engine):
    tenant = make_tenant(engine)
    settings = tenant_flows(tenant.config.flows).settings.of("replenishment")
    with engine.begin() as conn:
        conn.execute(
            insert(flow_intervals),
            [
                {"tenant_id": tenant.id, "product_id": p, "days": d, "pairs": 3, "computed_at": NOW}
                for p, d in (("p1", 30.0), ("p2", 12.5))
            ],
        )
    with engine.begin() as conn, page_scope(conn):
        with statements_run(engine) as ran:
            assert intervals_for(conn, tenant.id, settings, ["p1", "p3"]) == {"p1": 30.0}
            assert intervals_for(conn, tenant.id, settings, ["p3", "p1"]) == {"p1": 30.0}
            assert intervals_for(conn, tenant.id, settings, ["p2", "p1"]) == {"p1": 30.0, "p2": 12.5}
        assert len(ran) == 2  # p1 and p3 once, then p2
    with engine.begin() as conn:
        with statements_run(engine) as ran:
            intervals_for(conn, tenant.id, settings, ["p1"])
            assert intervals_for(conn, tenant.id, settings, ["p1"]) == {"p1": 30.0}
        assert len(ran) == 2  # outside a page: asked every time
        assert intervals_for(conn, tenant.id, settings) == {"p1": 30.0, "p2": 12.5}


def test_the_orders_of_a_page_are_read_once_for_its_reactions(engine):
    tenant = flow_tenant(engine, {"birthday": {"enabled": False}})
    buyers = [person(f"buyer{i}@example.fr") for i in range(3)]
    page = [order(NOW + timedelta(minutes=i), buyer, [item("p1")], f"o{i}") for i, buyer in enumerate(buyers)]
    with engine.begin() as conn:
        with statements_run(engine) as ran:
            results = ingest_page(conn, tenant, page, NOW + timedelta(hours=1))
    order_reads = [s for s in ran if "orders.created_at, orders.paid_at" in s]  # orders_for_run
    assert len(order_reads) == 1  # one read for the page's three orders (one per order without the page's memo)
    product_reads = [s for s in ran if "SELECT" in s and "FROM order_items" in s and "order_items.position" in s]
    assert len(product_reads) == 1  # their lines' products too (replenishment asks for each paid order's)
    assert all(result.outcome == "stored" for result in results)
    assert sorted(r.flow for r in runs(engine, tenant) if r.flow == "cross_sell") == ["cross_sell"] * 3
