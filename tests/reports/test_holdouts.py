"""Holdouts: deterministic membership, nothing sent to members, and the report's comparison."""

from __future__ import annotations

import pytest
from scipy import stats as sps

from core.errors import ConfigError
from core.holdouts import bucket, held_out
from core.reports import build_report
from core.reports.stats import newcombe, welch
from core.sections import validate_tenant
from tests.conftest import make_tenant
from tests.flows.helpers import ONLY_CART, at, cart, flow_tenant, item, outbox, person, run, sent
from tests.reports.helpers import at as t
from tests.reports.helpers import contact, message, order


def test_membership_is_deterministic_and_close_to_the_percentage():
    members = [c for c in range(10000) if held_out(7, "abandoned_cart", c, 10)]
    assert members == [c for c in range(10000) if held_out(7, "abandoned_cart", c, 10)]
    assert 900 < len(members) < 1100
    assert members != [c for c in range(10000) if held_out(8, "abandoned_cart", c, 10)]
    assert members != [c for c in range(10000) if held_out(7, "win_back", c, 10)]
    assert not any(held_out(7, "abandoned_cart", c, 0) for c in range(1000))
    assert all(0 <= bucket(1, "x", c) < 100 for c in range(100))


def test_holdout_members_get_nothing_but_are_recorded(engine):
    tenant = flow_tenant(engine, {**ONLY_CART, "abandoned_cart": {"holdout_percent": 30}})
    emails = [f"c{i}@example.com" for i in range(30)]
    events = [cart(at(minutes=i), person(email), [item("p1")], cart_id=f"c{i}") for i, email in enumerate(emails)]
    result = run(engine, tenant, events)
    rows = outbox(engine, tenant)
    held = {r.contact_id for r in rows if r.status == "holdout"}
    got = {r.contact_id for r in rows if r.status == "sent"}
    assert held and got and not held & got
    assert held == {r.contact_id for r in rows if held_out(tenant.id, "abandoned_cart", r.contact_id, 30)}
    assert all(r.reason == "holdout" and r.sent_at is None for r in rows if r.status == "holdout")
    # every step of a held-out contact is recorded (three per cart), none of them sent
    assert sum(r.status == "holdout" for r in rows) == 3 * len(held)
    assert len(sent(result)) == 3 * len(got)


def test_holdout_percent_is_validated():
    raw = {"name": "s", "platform": "woocommerce", "url": "https://s.example"}
    config = validate_tenant({**raw, "flows": {"win_back": {"holdout_percent": 10, "enabled": True}}})
    assert config.flows["win_back"]["holdout_percent"] == 10
    with pytest.raises(ConfigError, match=r"^flows.win_back.holdout_percent: must be a number from 0 to 50$"):
        validate_tenant({**raw, "flows": {"win_back": {"holdout_percent": 80}}})


def test_the_report_compares_recipients_and_holdout(engine):
    shop = make_tenant(engine, "results", currency="EUR")
    # 4 recipients: 2 buy within 5 days of their first message (30.00 and 10.00), one buys too late, one in USD
    buyers = {"r1": "30.00", "r2": "10.00"}
    for name in ("r1", "r2", "r3", "r4"):
        who = contact(engine, shop, f"{name}@example.com")
        message(engine, shop, who, "win_back", 1, t())
        message(engine, shop, who, "win_back", 2, t(days=2))
    for name, total in buyers.items():
        order(engine, shop, f"{name}@example.com", f"o-{name}", t(days=3), total)
    order(engine, shop, "r3@example.com", "o-r3", t(days=5, hours=1), "99.00")
    order(engine, shop, "r4@example.com", "o-r4", t(days=1), "99.00", currency="USD")
    # 3 held out: one buys 5.00 within the window, one refunds, one never buys
    for name in ("h1", "h2", "h3"):
        who = contact(engine, shop, f"{name}@example.com")
        message(engine, shop, who, "win_back", 1, t(), status="holdout")
    order(engine, shop, "h1@example.com", "o-h1", t(days=4), "5.00")
    order(engine, shop, "h2@example.com", "o-h2", t(days=1), "50.00", status="refunded")
    report = build_report(engine, shop.id)
    held = report["flows"]["win_back"]["holdout"]
    assert held["window_days"] == 5
    assert held["recipients"] == {
        "contacts": 4, "converted": 2, "conversion_rate": 0.5, "revenue": "40.00", "revenue_per_contact": "10.00"
    }  # fmt: skip
    assert held["holdout"] == {
        "contacts": 3, "converted": 1, "conversion_rate": 0.3333, "revenue": "5.00", "revenue_per_contact": "1.67"
    }  # fmt: skip
    expected = newcombe(2, 4, 1, 3)
    assert held["conversion_difference"] == expected.to_dict()
    assert held["conversion_difference"]["value"] == pytest.approx(0.1667, abs=1e-4)
    assert held["lift"] == 0.5
    # Welch on the per-contact revenues themselves
    welch_p = sps.ttest_ind([30, 10, 0, 0], [5, 0, 0], equal_var=False).pvalue
    got = held["revenue_per_contact_difference"]
    assert got["value"] == pytest.approx(10 - 5 / 3, abs=0.01) and got["p_value"] == pytest.approx(welch_p, abs=1e-6)
    assert got["low"] < got["value"] < got["high"]
    # the holdout's messages are not messages sent
    assert report["flows"]["win_back"]["sent"] == 8 and report["flows"]["win_back"]["recipients"] == 4


def test_newcombe_and_welch_match_published_values():
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.2000 [0.0524, 0.3339]
    found = newcombe(56, 70, 48, 80)
    assert (round(found.value, 4), round(found.low, 4), round(found.high, 4)) == (0.2, 0.0524, 0.3339)
    a, b = [3.0, 5.0, 9.0, 1.0, 7.0], [2.0, 2.5, 3.0, 1.5]
    var = sps.tvar
    interval = welch(sum(a) / 5, var(a), 5, sum(b) / 4, var(b), 4)
    expected = sps.ttest_ind(a, b, equal_var=False)
    assert interval.p_value == pytest.approx(expected.pvalue)
    ci = expected.confidence_interval(0.95)
    assert (interval.low, interval.high) == (pytest.approx(ci.low), pytest.approx(ci.high))
