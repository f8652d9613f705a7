"""The abandoned-cart flow, driven by a simulated clock on SQLite and PostgreSQL."""

from core.pipeline import ingest
from core.store.tenants import get_tenant

from .helpers import ONLY_CART, at, cart, flow_tenant, identify, item, order, outbox, person, run, runs, sent

MARIE = person("marie@example.fr")


def test_three_steps_after_the_last_update_with_the_cart_and_a_coupon_on_the_last(engine):
    tenant = flow_tenant(engine, {**ONLY_CART, "abandoned_cart": {"coupon": "SORRY10"}})
    result = run(engine, tenant, [cart(at(), MARIE, [item("p1"), item("p2", quantity=2), item("p1")])])
    assert sent(result) == [
        ("abandoned_cart", 1, at(hours=1), "marie@example.fr"),
        ("abandoned_cart", 2, at(hours=24), "marie@example.fr"),
        ("abandoned_cart", 3, at(hours=72), "marie@example.fr"),
    ]
    assert [m.products for m in result.messages] == [["p1", "p2"]] * 3
    rows = outbox(engine, tenant)
    assert [r.template for r in rows] == ["abandoned_cart/1", "abandoned_cart/2", "abandoned_cart/3"]
    assert [r.context.get("coupon") for r in rows] == [None, None, "SORRY10"]
    assert rows[0].context["cart_id"] == "c1" and rows[0].context["recovery_url"] == "https://shop.example/cart/c1"
    assert all(r.marketing and r.channel == "email" and r.dedupe_key == f"run:{r.run_id}:step:{r.step}" for r in rows)
    assert [r.state for r in runs(engine, tenant)] == ["done"]


def test_a_cart_followed_by_an_order_gets_nothing(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    events = [cart(at(), MARIE, [item("p1")]), order(at(minutes=40), MARIE, [item("p1")], cart_id="c1")]
    result = run(engine, tenant, events)
    assert sent(result) == []
    assert outbox(engine, tenant) == []
    assert [(r.state, r.end_reason) for r in runs(engine, tenant)] == [("exited", "ordered")]


def test_any_order_of_the_contact_ends_the_run_at_once_even_between_steps(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    events = [cart(at(), MARIE, [item("p1")]), order(at(hours=30), MARIE, [item("p9")], order_id="other")]
    result = run(engine, tenant, events)
    assert [(f, s) for f, s, _, _ in sent(result)] == [("abandoned_cart", 1), ("abandoned_cart", 2)]


def test_an_emptied_cart_ends_the_run(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    events = [cart(at(), MARIE, [item("p1")]), cart(at(hours=5), MARIE, [])]
    result = run(engine, tenant, events)
    assert [s for _, s, _, _ in sent(result)] == [1]
    assert [(r.state, r.end_reason) for r in runs(engine, tenant)] == [("exited", "cart_emptied")]


def test_a_new_cart_update_restarts_the_timing_and_a_cart_has_one_run(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    events = [
        cart(at(), MARIE, [item("p1")]),
        cart(at(minutes=50), MARIE, [item("p1"), item("p2")]),  # before step 1
        cart(at(hours=30), MARIE, [item("p2")]),  # after step 1 and step 2
    ]
    result = run(engine, tenant, events)
    assert sent(result) == [
        ("abandoned_cart", 1, at(minutes=110), "marie@example.fr"),
        ("abandoned_cart", 2, at(hours=24, minutes=50), "marie@example.fr"),
        ("abandoned_cart", 3, at(hours=30 + 72), "marie@example.fr"),
    ]
    assert result.messages[-1].products == ["p2"]
    assert len(runs(engine, tenant)) == 1


def test_an_anonymous_cart_waits_for_the_visitor_to_be_known(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    anonymous = cart(at(), {}, [item("p1")], anonymous_id="anon-1")
    later = identify(at(hours=3), {"email": "lea@example.fr", "consent": {"email": True}}, anonymous_id="anon-1")
    result = run(engine, tenant, [anonymous, later])
    assert [(s, m.to) for (_, s, _, _), m in zip(sent(result), result.messages, strict=True)] == [
        (1, "lea@example.fr"),
        (2, "lea@example.fr"),
        (3, "lea@example.fr"),
    ]
    # step 1 is due at once when the visitor becomes known: the cart is 3 hours old
    assert result.messages[0].time == at(hours=3)


def test_an_old_cart_loaded_by_an_import_starts_nothing(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    with engine.begin() as conn:
        ingest(conn, get_tenant(conn, tenant.name), cart(at(), MARIE, [item("p1")]), at(days=10))
        ingest(conn, get_tenant(conn, tenant.name), cart(at(days=9), MARIE, [item("p1")], cart_id="c2"), at(days=10))
    assert [r.trigger_key.split(":")[0] for r in runs(engine, tenant)] == ["cart"]
    assert runs(engine, tenant)[0].trigger_at == at(days=9)


def test_a_cart_two_days_old_skips_the_first_step(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    with engine.begin() as conn:
        ingest(conn, get_tenant(conn, tenant.name), cart(at(), MARIE, [item("p1")]), at(hours=48))
    result = run(engine, tenant, [identify(at(hours=48), {"email": "someone@example.fr"})], until=at(days=5))
    assert [(s, t) for _, s, t, _ in sent(result)] == [(2, at(hours=48)), (3, at(hours=72))]
    assert [(r.step, r.status, r.reason) for r in outbox(engine, tenant)][0] == (1, "dropped", "expired")


def test_an_old_order_arriving_late_does_not_end_the_run(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    events = [
        cart(at(), MARIE, [item("p1")]),
        order(at(minutes=10), MARIE, [item("p9")], "old", created_at="2026-01-05T10:00:00Z"),
    ]
    result = run(engine, tenant, events)
    assert [s for _, s, _, _ in sent(result)] == [1, 2, 3]
