"""The attribution credits a page's orders once for the whole page: the same credits as after each event."""

from __future__ import annotations

import sqlalchemy as sa

from core.attribution.store.schema import order_attributions
from core.pipeline import ingest, ingest_page
from core.store.schema import messages, orders
from tests.conftest import make_tenant, statements_run
from tests.reports.helpers import at, contact, engage, message, order_event


def _order(key: str, email: str, order_id: str, placed, total: str, status: str = "paid", updated=None):
    message_id = f"{key}-{order_id}-{status}-{total}"
    return order_event(email, order_id, placed, total, status, updated=updated, message_id=message_id)


def _shop(engine, name: str):
    """A tenant whose contacts were sent messages, clicked and opened them."""
    tenant = make_tenant(engine, name, currency="EUR")
    ann, bob = contact(engine, tenant, "ann@example.com"), contact(engine, tenant, "bob@example.com")
    contact(engine, tenant, "cid@example.com")
    first = message(engine, tenant, ann, "abandoned_cart", 1, at())
    second = message(engine, tenant, ann, "abandoned_cart", 2, at(days=1))
    engage(engine, tenant, first, "email_clicked", at(hours=1), "https://shop.example/a")
    engage(engine, tenant, second, "email_opened", at(days=1, hours=1))
    news = message(engine, tenant, bob, "win_back", 1, at())
    engage(engine, tenant, news, "email_opened", at(hours=2))
    return tenant


def _page(key: str) -> list:
    return [
        _order(key, "ann@example.com", "1", at(days=1, hours=2), "100.00", status="pending"),
        _order(key, "bob@example.com", "2", at(hours=20), "50.00"),
        _order(key, "ann@example.com", "1", at(days=1, hours=2), "100.00", updated=at(days=1, hours=3)),
        _order(key, "bob@example.com", "3", at(days=1, hours=3), "50.00"),  # the open is too old
        _order(key, "cid@example.com", "4", at(hours=5), "20.00"),  # never touched
        _order(key, "ann@example.com", "5", at(days=9), "30.00"),  # out of every window
        _order(key, "bob@example.com", "2", at(hours=20), "50.00", status="refunded", updated=at(days=2)),
        _order(key, "ann@example.com", "1", at(days=1, hours=2), "80.00", status="completed", updated=at(days=2)),
        _order(key, "ann@example.com", "1", at(days=1, hours=2), "90.00", status="paid", updated=at(days=1)),  # stale
    ]


def _credits(engine, tenant) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                orders.c.external_id,
                messages.c.flow,
                messages.c.step,
                order_attributions.c.kind,
                order_attributions.c.touched_at,
                order_attributions.c.order_at,
                order_attributions.c.amount,
            )
            .join(orders, orders.c.id == order_attributions.c.order_id)
            .join(messages, messages.c.id == order_attributions.c.message_id)
            .where(order_attributions.c.tenant_id == tenant.id)
            .order_by(orders.c.external_id)
        )
        return [tuple(row) for row in rows]


def test_a_page_credits_its_orders_as_one_event_at_a_time_does(engine):
    one, page, history = _shop(engine, "one"), _shop(engine, "page"), _shop(engine, "history")
    with engine.begin() as conn:
        for event in _page("one"):
            ingest(conn, one, event, at(days=3))
    with statements_run(engine) as counted, engine.begin() as conn:
        ingest_page(conn, page, _page("page"), at(days=3))
    with engine.begin() as conn:
        ingest_page(conn, history, _page("history"), at(days=3), backfill=True)
    expected = _credits(engine, one)
    assert [(row[0], row[1], row[2], row[3]) for row in expected] == [
        ("1", "abandoned_cart", 1, "click"),
        ("2", "win_back", 1, "open"),
    ]
    assert _credits(engine, page) == expected
    assert _credits(engine, history) == expected
    # the orders read once, the touches once, the credits written once: not once per order event
    assert sum("order_attributions" in s for s in counted) <= 2, counted
    assert sum("email_clicked" in s or "JOIN messages" in s for s in counted) <= 1, counted


def test_a_tenant_without_messages_credits_nothing_and_reads_no_order(engine):
    """No message, no touch, no credit: a page of orders (a first sync) is not credited at all, one EXISTS per
    page; once the tenant has a message, the next page credits its orders again."""
    tenant = make_tenant(engine, "quiet", currency="EUR")
    ann = contact(engine, tenant, "ann@example.com")
    with statements_run(engine) as counted, engine.begin() as conn:
        ingest_page(conn, tenant, _page("quiet")[:5], at(days=3), backfill=True)
    assert _credits(engine, tenant) == []
    assert not any("order_attributions" in s for s in counted), counted
    assert sum("messages" in s for s in counted) == 1, counted
    sent = message(engine, tenant, ann, "abandoned_cart", 1, at())
    engage(engine, tenant, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    with engine.begin() as conn:
        ingest_page(conn, tenant, [_order("later", "ann@example.com", "6", at(days=1, hours=2), "10.00")], at(days=3))
    assert [(row[0], row[1], row[3]) for row in _credits(engine, tenant)] == [("6", "abandoned_cart", "click")]
