"""Attribution: last click within the click window, else last open within the open window; refunds subtract."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.attribution.attribute import recompute
from core.attribution.store.attribution import get_credit
from core.errors import ConfigError
from core.sections import validate_tenant
from tests.conftest import make_tenant
from tests.reports.helpers import at, contact, engage, message, order


def credit(engine, tenant, ingested):
    with engine.connect() as conn:
        return get_credit(conn, tenant.id, ingested.order_id)


@pytest.fixture
def shop(engine):
    return make_tenant(engine, "results", currency="EUR")


def test_the_last_click_within_five_days_wins_over_a_later_open(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    first = message(engine, shop, who, "abandoned_cart", 1, at())
    second = message(engine, shop, who, "abandoned_cart", 2, at(days=1))
    engage(engine, shop, first, "email_clicked", at(hours=1), "https://shop.example/a")
    engage(engine, shop, second, "email_opened", at(days=1, hours=1))
    found = credit(engine, shop, order(engine, shop, "ann@example.com", "1", at(days=1, hours=2), "100.00"))
    assert (found["message_id"], found["kind"], found["flow"], found["step"]) == (
        first.id,
        "click",
        "abandoned_cart",
        1,
    )
    assert found["amount"] == Decimal("100.0000")


def test_of_two_clicks_the_later_one_wins(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    first = message(engine, shop, who, "abandoned_cart", 1, at())
    later = message(engine, shop, who, "win_back", 1, at(hours=2))
    engage(engine, shop, first, "email_clicked", at(hours=1), "https://shop.example/a")
    engage(engine, shop, later, "email_clicked", at(hours=3), "https://shop.example/b")
    found = credit(engine, shop, order(engine, shop, "ann@example.com", "1", at(hours=5), "10.00"))
    assert found["message_id"] == later.id


def test_a_click_older_than_the_window_does_not_count(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    engage(engine, shop, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    assert (
        credit(
            engine,
            shop,
            order(
                engine,
                shop,
                "ann@example.com",
                "1",
                at(
                    days=5,
                    hours=1,
                ),
                "9.00",
            ),
        )
        is not None
    )
    assert credit(engine, shop, order(engine, shop, "ann@example.com", "2", at(days=5, hours=1.01), "9.00")) is None


def test_an_open_counts_for_one_day_only(engine, shop):
    who = contact(engine, shop, "bob@example.com")
    sent = message(engine, shop, who, "win_back", 1, at())
    engage(engine, shop, sent, "email_opened", at(hours=2))
    found = credit(engine, shop, order(engine, shop, "bob@example.com", "1", at(hours=20), "50.00"))
    assert (found["message_id"], found["kind"]) == (sent.id, "open")
    assert credit(engine, shop, order(engine, shop, "bob@example.com", "2", at(days=1, hours=3), "50.00")) is None


def test_a_touch_after_the_order_does_not_count(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    placed = order(engine, shop, "ann@example.com", "1", at(hours=1), "9.00")
    engage(engine, shop, sent, "email_clicked", at(hours=2), "https://shop.example/a")
    assert credit(engine, shop, placed) is None


def test_a_refund_or_a_cancel_takes_the_amount_back_and_a_new_total_replaces_it(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    engage(engine, shop, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    placed = order(engine, shop, "ann@example.com", "1", at(hours=2), "80.00", status="pending")
    assert credit(engine, shop, placed)["amount"] == Decimal(0)
    order(engine, shop, "ann@example.com", "1", at(hours=2), "80.00", status="paid", updated=at(hours=3))
    assert credit(engine, shop, placed)["amount"] == Decimal("80.0000")
    order(engine, shop, "ann@example.com", "1", at(hours=2), "60.00", status="completed", updated=at(hours=4))
    assert credit(engine, shop, placed)["amount"] == Decimal("60.0000")
    order(engine, shop, "ann@example.com", "1", at(hours=2), "60.00", status="refunded", updated=at(days=3))
    found = credit(engine, shop, placed)
    assert (found["amount"], found["message_id"]) == (Decimal(0), sent.id)


def test_windows_are_set_per_tenant(engine):
    shop = make_tenant(engine, "results", attribution={"click_days": 1, "open_days": 0})
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    engage(engine, shop, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    engage(engine, shop, sent, "email_opened", at(days=1, hours=2))
    assert credit(engine, shop, order(engine, shop, "ann@example.com", "1", at(hours=20), "9.00"))["kind"] == "click"
    assert credit(engine, shop, order(engine, shop, "ann@example.com", "2", at(days=1, hours=3), "9.00")) is None


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"click_days": -1}, "attribution.click_days: must be a number of days from 0 to 90"),
        ({"open_days": "one"}, "attribution.open_days: must be a number of days from 0 to 90"),
        ({"clicks": 5}, "attribution.clicks: unknown key (allowed: click_days, open_days)"),
        ([5], "attribution: must be a mapping with click_days and open_days"),
    ],
)
def test_bad_windows_are_refused_with_one_line(section, error):
    raw = {"name": "s", "platform": "woocommerce", "url": "https://s.example", "attribution": section}
    with pytest.raises(ConfigError) as caught:
        validate_tenant(raw)
    assert str(caught.value).startswith(error)


def test_recompute_credits_history_after_a_change_of_windows(engine, shop):
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    engage(engine, shop, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    placed = order(engine, shop, "ann@example.com", "1", at(days=3), "9.00")
    assert credit(engine, shop, placed) is not None
    shorter = make_tenant(engine, "results", currency="EUR", attribution={"click_days": 2})
    assert recompute(engine, shorter, at(days=10)) == (1, 0)
    assert credit(engine, shop, placed) is None
    longer = make_tenant(engine, "results", currency="EUR", attribution={"click_days": 4})
    assert recompute(engine, longer, at(days=10)) == (1, 1)
    assert credit(engine, shop, placed)["message_id"] == sent.id


def test_clicks_sent_by_another_tool_do_not_count_nor_break_anything(engine, shop):
    from core.events import parse_event
    from core.pipeline import ingest
    from core.reports import build_report

    who = contact(engine, shop, "ann@example.com")
    message(engine, shop, who, "welcome", 1, at())
    raw = {
        "type": "track",
        "event": "email_clicked",
        "message_id": "klaviyo-1",
        "timestamp": at(hours=1).isoformat(),
        "contact": {"email": "ann@example.com"},
        "properties": {"message_id": "01HX-not-ours", "url": "https://shop.example/a"},
    }
    with engine.begin() as conn:
        ingest(conn, shop, parse_event(raw, default_source="klaviyo"), at(hours=1))
    assert credit(engine, shop, order(engine, shop, "ann@example.com", "1", at(hours=2), "9.00")) is None
    assert build_report(engine, shop.id)["totals"]["clicked"] == 0
