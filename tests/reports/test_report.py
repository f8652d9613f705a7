"""The report on known data: every number checked, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core.reports import build_report
from core.reports.formats import to_csv, to_table
from tests.conftest import make_tenant
from tests.reports.helpers import at, complaint, contact, engage, message, order, unsubscribed


@pytest.fixture
def known(engine):
    """Four contacts, five messages in three flows, clicks, opens, an unsubscribe, a complaint and six orders."""
    shop = make_tenant(engine, "results", currency="EUR")
    ann = contact(engine, shop, "ann@example.com")
    bob = contact(engine, shop, "bob@example.com")
    cat = contact(engine, shop, "cat@example.com")
    dan = contact(engine, shop, "dan@example.com")
    m1 = message(engine, shop, ann, "abandoned_cart", 1, at())
    m2 = message(engine, shop, ann, "abandoned_cart", 2, at(days=1))
    m3 = message(engine, shop, bob, "win_back", 1, at())
    message(engine, shop, cat, "win_back", 1, at(), status="bounced")
    m5 = message(engine, shop, dan, "welcome", 1, at())
    message(engine, shop, dan, "welcome", 2, at(), status="dropped")  # never sent: counts nowhere
    # ann opens m1 twice (one open kept), clicks two links of it (one message clicked), opens m2
    engage(engine, shop, m1, "email_opened", at(hours=0.5))
    engage(engine, shop, m1, "email_opened", at(hours=0.7))
    engage(engine, shop, m1, "email_clicked", at(hours=1), "https://shop.example/a")
    engage(engine, shop, m1, "email_clicked", at(hours=1.5), "https://shop.example/b")
    engage(engine, shop, m2, "email_opened", at(days=1, hours=1))
    order(engine, shop, "ann@example.com", "A1", at(days=1, hours=2), "100.00")  # m1's click, not m2's open
    order(engine, shop, "ann@example.com", "A2", at(days=2), "30.00")  # m1's click, then refunded
    order(engine, shop, "ann@example.com", "A2", at(days=2), "30.00", status="refunded", updated=at(days=4))
    # bob opens m3: an order within a day is credited, one three days later is not; he clicks, then pays in USD
    engage(engine, shop, m3, "email_opened", at(hours=2))
    order(engine, shop, "bob@example.com", "B1", at(hours=20), "50.00")
    engage(engine, shop, m3, "email_clicked", at(hours=21), "https://shop.example/c")
    order(engine, shop, "bob@example.com", "B2", at(hours=22), "20.00", currency="USD")
    complaint(engine, shop, m3, "bob@example.com", at(hours=23))
    # dan clicks m5 and unsubscribes; his order six days later is outside the click window
    engage(engine, shop, m5, "email_clicked", at(hours=1), "https://shop.example/d")
    unsubscribed(engine, shop, m5, at(hours=1.2))
    order(engine, shop, "dan@example.com", "D1", at(days=6), "70.00")
    return shop


def _counts(group):
    keys = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complaints", "recipients", "orders")
    return tuple(group[k] for k in keys) + (group["revenue"], group["revenue_per_recipient"])


def test_every_number_per_flow_and_step(engine, known):
    report = build_report(engine, known.id)
    flows = report["flows"]
    assert sorted(flows) == ["abandoned_cart", "welcome", "win_back"]
    #                                        sent del bnc open clk uns cmp rcp ord revenue  per recipient
    assert _counts(flows["abandoned_cart"]) == (2, 2, 0, 2, 1, 0, 0, 1, 1, "100.00", "100.00")
    assert _counts(flows["abandoned_cart"]["steps"]["1"]) == (1, 1, 0, 1, 1, 0, 0, 1, 1, "100.00", "100.00")
    assert _counts(flows["abandoned_cart"]["steps"]["2"]) == (1, 1, 0, 1, 0, 0, 0, 1, 0, "0.00", "0.00")
    assert _counts(flows["win_back"]) == (2, 1, 1, 1, 1, 0, 1, 2, 1, "50.00", "25.00")
    assert _counts(flows["welcome"]) == (1, 1, 0, 1, 1, 1, 0, 1, 0, "0.00", "0.00")
    assert list(flows["welcome"]["steps"]) == ["1"]
    assert flows["welcome"]["holdout"] is None and flows["welcome"]["variants"] == {}


def test_totals_currencies_and_days(engine, known):
    report = build_report(engine, known.id)
    assert report["currency"] == "EUR" and report["tenant"] == "results"
    totals = report["totals"]
    assert _counts(totals) == (5, 4, 1, 4, 3, 1, 1, 4, 2, "150.00", "37.50")
    assert totals["other_currencies"] == {"USD": {"orders": 1, "revenue": "20.00"}}
    assert totals["channels"] == {"email": 5}
    assert report["days"] == [
        {"date": "2026-06-01", "sent": 4, "opened": 3, "clicked": 3, "orders": 0, "revenue": "0.00"},
        {"date": "2026-06-02", "sent": 1, "opened": 1, "clicked": 0, "orders": 2, "revenue": "150.00"},
        {"date": "2026-06-03", "sent": 0, "opened": 0, "clicked": 0, "orders": 0, "revenue": "0.00"},
    ]
    assert report["campaigns"] == {}


def test_a_period_keeps_messages_sent_and_orders_placed_in_it(engine, known):
    report = build_report(engine, known.id, at(days=1), at(days=2))
    assert list(report["flows"]) == ["abandoned_cart"]
    assert _counts(report["flows"]["abandoned_cart"]) == (1, 1, 0, 1, 0, 0, 0, 1, 1, "100.00", "100.00")
    # the order of 2 June 12:00 is credited to step 1, sent before the period: it still counts for the flow
    assert report["flows"]["abandoned_cart"]["steps"]["1"]["orders"] == 1
    assert report["since"] == "2026-06-02T10:00:00+00:00"


def test_json_csv_and_table(engine, known):
    report = build_report(engine, known.id)
    assert json.loads(json.dumps(report)) == report
    rows = list(csv.DictReader(io.StringIO(to_csv([report]))))
    flow = next(r for r in rows if r["level"] == "flow" and r["flow"] == "win_back")
    assert (flow["sent"], flow["orders"], flow["revenue"], flow["revenue_per_recipient"]) == (
        "2",
        "1",
        "50.00",
        "25.00",
    )
    assert [r["level"] for r in rows].count("day") == 3
    table = to_table(report)
    assert "win_back" in table and "150.00" in table and "also credited in USD: 1 orders, 20.00 USD" in table


def test_another_tenant_sees_nothing_of_it(engine, known):
    other = make_tenant(engine, "other")
    report = build_report(engine, other.id)
    assert report["flows"] == {} and report["totals"]["sent"] == 0 and report["days"] == []
