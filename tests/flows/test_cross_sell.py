"""Cross-sell: 7 days after payment, products bought together, never owned, never out of stock."""

from datetime import UTC, datetime

from core.pipeline import ingest
from core.recommendations import ProductInfo, Stats, cross_sell
from core.store.recommendations import best_sellers, co_purchases
from core.store.tenants import get_tenant

from .helpers import flow_tenant, item, order, outbox, person, product, run, runs, track

ONLY_CROSS = {"abandoned_cart": {"enabled": False}, "birthday": {"enabled": False}, "replenishment": {"enabled": False}}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def catalogue_events():
    events = [product(utc(2026, 1, 1), p, categories=["Café"], brand="Soleil") for p in ("p1", "p2", "p3", "p4", "p5")]
    events.append(product(utc(2026, 1, 1), "p6", in_stock=False, categories=["Café"]))
    events += [product(utc(2026, 1, 1), p, categories=["Thé"], brand="Verde") for p in ("t1", "t2", "t3")]
    history = [("p1", "p6")] * 5 + [("p1", "p2")] * 3 + [("p1", "p3")] * 2 + [("p1", "p4"), ("p1", "p5"), ("p4", "p5")]
    history += [("t2",), ("t2",), ("t3",), ("p5",)]
    for index, products in enumerate(history):
        buyer = person(f"buyer{index}@example.fr", consent=None)
        events.append(order(utc(2026, 2, 1, 10, index), buyer, [item(p) for p in products], f"h{index}"))
    return events


def test_seven_days_after_payment_the_products_bought_together(engine):
    tenant = flow_tenant(engine, ONLY_CROSS)
    lea = person("lea@example.fr")
    events = catalogue_events() + [
        order(utc(2026, 2, 10, 9, 0), lea, [item("p3")], "before"),  # she owns p3 already
        order(utc(2026, 3, 1, 9, 0), lea, [item("p1")], "o1", status="pending"),
        track(
            "order_updated",
            utc(2026, 3, 2, 9, 30),
            lea,
            order_id="o1",
            status="paid",
            currency="EUR",
            total="10.00",
            items=[item("p1")],
        ),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 12))
    mine = [m for m in result.messages if m.to == "lea@example.fr"]
    assert [(m.flow, m.time) for m in mine] == [
        ("cross_sell", utc(2026, 2, 17, 9, 0)),
        ("cross_sell", utc(2026, 3, 9, 9, 30)),
    ]
    # p6 is out of stock, p3 already hers; p2 (3 orders together), then p5 and p4 (1 each, p5 sells more);
    # no other product of the category or brand is left to fill a 4th place
    assert mine[1].products == ["p2", "p5", "p4"]
    row = [r for r in outbox(engine, tenant) if r.to_address == "lea@example.fr"][-1]
    assert row.context["order_id"] == "o1" and row.template == "cross_sell/1"


def test_too_few_pairs_fall_back_to_best_sellers_of_the_same_category(engine):
    tenant = flow_tenant(engine, ONLY_CROSS)
    lea = person("lea@example.fr")
    events = catalogue_events() + [order(utc(2026, 3, 2, 9, 0), lea, [item("t1", categories=["Thé"])], "o1")]
    result = run(engine, tenant, events, until=utc(2026, 3, 12))
    assert [m.products for m in result.messages if m.to == "lea@example.fr"] == [["t2", "t3"]]


def test_a_cancelled_order_gets_nothing_and_nothing_to_show_is_recorded(engine):
    tenant = flow_tenant(engine, ONLY_CROSS)
    lea = person("lea@example.fr")
    events = catalogue_events() + [
        order(utc(2026, 3, 2, 9, 0), lea, [item("p1")], "o1"),
        track(
            "order_updated",
            utc(2026, 3, 4),
            lea,
            order_id="o1",
            status="refunded",
            currency="EUR",
            total="10.00",
            items=[item("p1")],
        ),
        order(utc(2026, 3, 2, 9, 0), person("zoe@example.fr"), [item("zz")], "o2"),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 12))
    assert [m for m in result.messages if m.to in ("lea@example.fr", "zoe@example.fr")] == []
    states = {r.trigger_key: (r.state, r.end_reason) for r in runs(engine, tenant)}
    assert ("exited", "order_cancelled") in states.values()
    zoe = [r for r in outbox(engine, tenant) if r.to_address == "zoe@example.fr"]
    assert [(r.status, r.reason) for r in zoe] == [("dropped", "no_products")]


def test_an_order_paid_months_ago_starts_nothing(engine):
    tenant = flow_tenant(engine, ONLY_CROSS)
    with engine.begin() as conn:
        shop = get_tenant(conn, tenant.name)
        ingest(conn, shop, order(utc(2026, 3, 1), person("old@example.fr"), [item("p1")], "old"), utc(2026, 9, 1))
        ingest(conn, shop, order(utc(2026, 8, 25), person("new@example.fr"), [item("p1")], "new"), utc(2026, 9, 1))
    assert [r.trigger_key for r in runs(engine, tenant)] == [f"order:{runs(engine, tenant)[0].context['order']}"]
    assert len(runs(engine, tenant)) == 1


def test_co_purchases_and_best_sellers_count_paid_orders(engine):
    tenant = flow_tenant(engine, ONLY_CROSS)
    events = catalogue_events() + [
        order(utc(2026, 2, 2), person("c@example.fr"), [item("p1"), item("p2")], "x", status="cancelled")
    ]
    run(engine, tenant, events, until=utc(2026, 2, 3))
    with engine.connect() as conn:
        pairs = co_purchases(conn, tenant.id, utc(2026, 3, 1))
        sales = best_sellers(conn, tenant.id, utc(2026, 3, 1))
    assert pairs["p1"] == {"p6": 5, "p2": 3, "p3": 2, "p4": 1, "p5": 1}
    assert pairs["p5"] == {"p1": 1, "p4": 1}
    assert sales["p1"] == 12 and sales["t2"] == 2


def test_cross_sell_ranking_rules():
    info = {p: ProductInfo(p, "B", ("C",), p != "out") for p in ("a", "b", "c", "d", "e", "out", "owned")}
    info["other"] = ProductInfo("other", "Z", ("Z",), True)
    stats = Stats(
        pairs={"a": {"out": 9, "owned": 8, "b": 3, "c": 3, "d": 1, "unknown": 7}},
        sales={"b": 1, "c": 5, "d": 2, "e": 10, "other": 50},
        catalogue=info,
    )
    assert cross_sell(stats, ["a"], {"owned"}, 2) == ["c", "b"]  # ties broken by sales
    assert cross_sell(stats, ["a"], {"owned"}, 4) == ["c", "b", "d", "e"]  # e: best seller of the category
    assert cross_sell(stats, ["a"], {"owned"}, 10) == ["c", "b", "d", "e"]  # never another category or brand
