"""A/B split step: deterministic assignment, what a variant changes, per-variant results, automatic winner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.errors import ConfigError
from core.flows.custom import parse_split
from core.flows.model import Split, Variant
from core.flows.splits import pick_variant, winner
from core.flows.store.schema import flow_runs
from core.messages.compose import compose
from core.reports import build_report
from core.sections import validate_tenant
from core.store.schema import messages
from tests.flows.helpers import OFF, at, flow_tenant, person, track
from tests.flows.test_steps import simulate_to
from tests.messages.helpers import BASE_URL, SECRET
from tests.reports.helpers import at as t
from tests.reports.helpers import contact, engage, message, order

QUIET = {"abandoned_cart": OFF, "birthday": OFF, "cross_sell": OFF, "replenishment": OFF, "welcome": OFF}
SPLIT = {
    "variants": {
        "a": {},
        "b": {"template": "win_back/1", "subject": "Hello {{ first_name or 'you' }}, a gift", "delay_hours": 2},
    }
}


def promo_flows(split=SPLIT):
    steps = [{"split": split}, {"send": "email", "template": "welcome/1"}]
    return {**QUIET, "custom": {"promo": {"trigger": {"event": "account_created"}, "steps": steps}}}


def test_assignment_is_deterministic_and_weighted():
    split = Split((Variant("a", 1), Variant("b", 3)))
    picks = [pick_variant(split, 1, "promo", c).name for c in range(4000)]
    assert picks == [pick_variant(split, 1, "promo", c).name for c in range(4000)]
    assert 900 < picks.count("a") < 1100


def test_each_run_follows_its_variant(engine):
    tenant = flow_tenant(engine, promo_flows())
    events = [track("account_created", at(), person(f"p{i}@example.fr", first_name="Léa")) for i in range(20)]
    simulate_to(engine, tenant, events, at(hours=3))
    with engine.connect() as conn:
        rows = conn.execute(select(messages).where(messages.c.tenant_id == tenant.id)).all()
        runs = {r.contact_id: r.context.get("variant") for r in conn.execute(select(flow_runs))}
        split = parse_split(SPLIT, "split")
        assert {r.contact_id: r.variant for r in rows} == runs
        assert runs == {c: pick_variant(split, tenant.id, "promo", c).name for c in runs}
        assert set(runs.values()) == {"a", "b"}
        for row in rows:
            if row.variant == "a":
                assert (row.template, row.due_at, row.context.get("subject")) == ("welcome/1", at(), None)
            else:
                assert (row.template, row.due_at) == ("win_back/1", at(hours=2))
        b_row = next(r for r in rows if r.variant == "b")
        composed = compose(conn, tenant, b_row, BASE_URL, SECRET)
    assert composed.subject == "Hello Léa, a gift"


@pytest.mark.parametrize(
    ("split", "error"),
    [
        ({"variants": {"a": {}}}, "needs two variants or more"),
        ({"variants": {"a": {}, "b": {"colour": "red"}}}, "variants.b.colour: unknown key"),
        ({"variants": {"a": {}, "b": {}}, "winner": "opens"}, "winner: must be one of clicked, orders"),
        ({"variants": {"a": {}, "b": {}}, "min_sample": 1}, "min_sample: must be a whole number from 10"),
    ],
)
def test_bad_splits_are_refused(split, error):
    raw = {"name": "s", "platform": "woocommerce", "url": "https://s.example", "flows": promo_flows(split)}
    with pytest.raises(ConfigError, match=error):
        validate_tenant(raw)


def test_winner_needs_the_sample_and_a_significant_difference():
    split = Split((Variant("a"), Variant("b")), winner="clicked", min_sample=100)
    assert winner(split, {"a": (99, 10, 0), "b": (500, 200, 0)}) is None  # a lacks the sample
    assert winner(split, {"a": (500, 50, 0), "b": (500, 60, 0)}) is None  # not significant
    assert winner(split, {"a": (500, 50, 0), "b": (500, 200, 0)}) == "b"
    by_orders = Split((Variant("a"), Variant("b")), winner="orders", min_sample=100)
    assert winner(by_orders, {"a": (500, 0, 80), "b": (500, 200, 10)}) == "a"


def test_new_runs_all_get_the_winner(engine):
    split = {**SPLIT, "winner": "clicked", "min_sample": 10}
    tenant = flow_tenant(engine, promo_flows(split))
    # history: 20 messages of each variant, b's all clicked, a's never
    for i in range(40):
        who = contact(engine, tenant, f"old{i}@example.fr")
        variant = "a" if i % 2 else "b"
        sent = message(engine, tenant, who, "promo", 1, t(days=-30), variant=variant)
        if variant == "b":
            engage(engine, tenant, sent, "email_clicked", t(days=-30, hours=1), "https://shop.example/x")
    events = [track("account_created", at(), person(f"new{i}@example.fr")) for i in range(10)]
    simulate_to(engine, tenant, events, at(hours=3))
    with engine.connect() as conn:
        fresh = conn.execute(select(flow_runs.c.context)).all()
    assert [r.context["variant"] for r in fresh] == ["b"] * 10


def test_the_report_gives_per_variant_results_with_significance(engine):
    tenant = flow_tenant(engine, promo_flows())
    for i in range(40):
        who = contact(engine, tenant, f"c{i}@example.fr")
        variant = "a" if i < 20 else "b"
        sent = message(engine, tenant, who, "promo", 1, t(), variant=variant)
        if variant == "b" and i < 35 or variant == "a" and i < 4:
            engage(engine, tenant, sent, "email_clicked", t(hours=1), "https://shop.example/x")
        if i in (30, 31):
            order(engine, tenant, f"c{i}@example.fr", f"o{i}", t(hours=2), "25.00")
    report = build_report(engine, tenant.id)
    flow = report["flows"]["promo"]
    assert {v: (d["sent"], d["clicked"], d["orders"], d["revenue"]) for v, d in flow["variants"].items()} == {
        "a": (20, 4, 0, "0.00"),
        "b": (20, 15, 2, "50.00"),
    }
    assert flow["steps"]["1"]["variants"]["b"]["recipients"] == 20
    ab = flow["ab"]
    assert ab["control"] == "a"
    clicks = ab["compared"]["b"]["click_rate_difference"]
    assert clicks["value"] == pytest.approx(0.55) and clicks["low"] > 0 and clicks["p_value"] < 0.01
    orders = ab["compared"]["b"]["order_rate_difference"]
    assert orders["value"] == pytest.approx(0.1) and orders["low"] < 0  # two orders prove nothing


def test_variant_delay_is_a_timedelta():
    assert parse_split(SPLIT, "s").variant("b").delay == timedelta(hours=2)


def test_a_built_in_flow_splits_at_its_first_send_and_keeps_the_variant(engine):
    from tests.flows.helpers import ONLY_CART, cart, item, outbox, run

    split = {
        "variants": {"a": {}, "b": {"subject": "B: {{ first_name or 'hello' }}", "template": "abandoned_cart/{step}"}}
    }
    tenant = flow_tenant(engine, {**ONLY_CART, "abandoned_cart": {"split": split}})
    events = [cart(at(minutes=i), person(f"c{i}@example.fr"), [item("p1")], cart_id=f"c{i}") for i in range(16)]
    run(engine, tenant, events)
    rows = outbox(engine, tenant)
    by_contact: dict[int, set[str]] = {}
    for row in rows:
        by_contact.setdefault(row.contact_id, set()).add(row.variant)
        assert row.template == f"abandoned_cart/{row.step}"
        assert (row.context.get("subject") is not None) == (row.variant == "b")
    assert all(len(v) == 1 for v in by_contact.values()) and {*set().union(*by_contact.values())} == {"a", "b"}
    parsed = parse_split(split, "s")
    assert all(v == {pick_variant(parsed, tenant.id, "abandoned_cart", c).name} for c, v in by_contact.items())
    with pytest.raises(ConfigError, match="not delay_hours"):
        validate_tenant(
            {"name": "s", "platform": "woocommerce", "url": "https://s.example",
             "flows": {"abandoned_cart": {"split": {"variants": {"a": {}, "b": {"delay_hours": 1}}}}}}
        )  # fmt: skip
