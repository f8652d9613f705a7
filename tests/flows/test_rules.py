"""The rules of every marketing message: consent, quiet hours, marketing pressure with priorities."""

import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .helpers import (
    OFF,
    ONLY_CART,
    at,
    cart,
    flow_tenant,
    item,
    order,
    outbox,
    person,
    product,
    run,
    sent,
    track,
)

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- consent ------------------------------------------------------------------------------


def test_a_contact_who_never_opted_in_gets_nothing_and_it_is_recorded(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    result = run(engine, tenant, [cart(at(), person("noconsent@example.fr", consent=None), [item("p1")])])
    assert sent(result) == []
    assert [(r.step, r.status, r.reason) for r in outbox(engine, tenant)] == [
        (1, "dropped", "consent"),
        (2, "dropped", "consent"),
        (3, "dropped", "consent"),
    ]
    assert result.outcomes["dropped:consent"] == 3


def test_an_unsubscribed_contact_gets_nothing_more(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    marie = person("marie@example.fr")
    events = [
        cart(at(), marie, [item("p1")]),
        track("newsletter_unsubscribed", at(hours=5), {"email": "marie@example.fr"}, list="newsletter"),
    ]
    result = run(engine, tenant, events)
    assert [s for _, s, _, _ in sent(result)] == [1]
    assert [(r.step, r.status) for r in outbox(engine, tenant)] == [(1, "sent"), (2, "dropped"), (3, "dropped")]


def test_an_opt_out_after_scheduling_is_honoured_at_delivery(engine):
    tenant = flow_tenant(engine, ONLY_CART)
    # step 1 due at 22:30 Paris goes at 08:00; she unsubscribes at 07:00
    events = [
        cart(utc(2026, 3, 2, 20, 30), person("marie@example.fr"), [item("p1")]),
        track("newsletter_unsubscribed", utc(2026, 3, 3, 6, 0), {"email": "marie@example.fr"}),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 3, 12, 0))
    assert sent(result) == []
    assert [(r.status, r.reason) for r in outbox(engine, tenant)] == [("suppressed", "consent")]


def test_sms_needs_an_sms_opt_in_and_goes_to_the_phone(engine):
    flows = {**ONLY_CART, "abandoned_cart": {"channel": "sms", "delays_hours": [1]}}
    tenant = flow_tenant(engine, flows)
    email_only = {"email": "a@example.fr", "phone": "+33612345678", "consent": {"email": True}}
    both = {"email": "b@example.fr", "phone": "+33698765432", "consent": {"email": True, "sms": True}}
    result = run(engine, tenant, [cart(at(), email_only, [item("p1")]), cart(at(), both, [item("p1")], "c2")])
    assert [(m.channel, m.to) for m in result.messages] == [("sms", "+33698765432")]


# -- quiet hours ---------------------------------------------------------------------------


def test_a_message_due_in_quiet_hours_goes_at_eight_in_the_contacts_zone(engine):
    tenant = flow_tenant(engine, {**ONLY_CART, "abandoned_cart": {"delays_hours": [1]}})
    paris = person("paris@example.fr")
    new_york = person("ny@example.com", timezone="America/New_York")
    events = [
        cart(utc(2026, 3, 2, 19, 30), paris, [item("p1")]),  # due 21:30 Paris
        cart(utc(2026, 3, 2, 23, 0), new_york, [item("p1")], "c2"),  # due 19:00 New York: fine
        cart(utc(2026, 3, 3, 3, 0), new_york, [item("p1")], "c3"),  # due 23:00 New York
    ]
    result = run(engine, tenant, events)
    assert sent(result) == [
        ("abandoned_cart", 1, utc(2026, 3, 3, 0, 0), "ny@example.com"),
        ("abandoned_cart", 1, utc(2026, 3, 3, 7, 0), "paris@example.fr"),  # 08:00 in Paris
        ("abandoned_cart", 1, utc(2026, 3, 3, 13, 0), "ny@example.com"),  # 08:00 in New York
    ]
    reasons = [(r.to_address, r.reason) for r in outbox(engine, tenant)]
    assert reasons == [("paris@example.fr", "quiet_hours"), ("ny@example.com", None), ("ny@example.com", "quiet_hours")]


def test_nothing_ever_lands_in_quiet_hours(engine):
    rng = random.Random(5)
    tenant = flow_tenant(engine, {"quiet_hours": {"start": "21:00", "end": "08:00"}})
    events = [product(at(days=-30), f"p{i}") for i in range(1, 6)]
    for index in range(12):
        zone = rng.choice(["Europe/Paris", "America/New_York", "Asia/Tokyo", None])
        contact = person(
            f"c{index}@example.com",
            birthday=f"1990-03-{rng.randint(2, 20):02d}",
            **({"timezone": zone} if zone else {}),
        )
        when = at(hours=rng.randint(0, 400), minutes=rng.randint(0, 59))
        events.append(cart(when, contact, [item(f"p{rng.randint(1, 5)}")], f"cart{index}"))
        events.append(order(when + (when - at()) / 3, contact, [item("p1"), item("p2")], f"o{index}"))
    result = run(engine, tenant, sorted(events, key=lambda e: e.timestamp))
    assert len(result.messages) > 20
    zones = {e.contact.email: e.contact.timezone for e in events if isinstance(e.contact.timezone, str)}
    for message in result.messages:
        local = message.time.astimezone(ZoneInfo(zones.get(message.to, "Europe/Paris")))
        assert 8 <= local.hour < 21, message


# -- pressure and priorities -----------------------------------------------------------------


def test_when_two_flows_want_a_contact_at_once_the_higher_priority_goes(engine):
    tenant = flow_tenant(engine, {"abandoned_cart": OFF, "replenishment": OFF})
    lea = person("lea@example.fr", birthday="1991-03-09")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 3, 2, 8, 0), lea, [item("p1")], "o1"),  # cross-sell due 9 March 08:00 UTC
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    # birthday at 09:00 Paris (08:00 UTC) the same instant: birthday goes first, cross-sell next morning
    assert sent(result) == [
        ("birthday", 1, utc(2026, 3, 9, 8, 0), "lea@example.fr"),
        ("cross_sell", 1, utc(2026, 3, 10, 7, 0), "lea@example.fr"),
    ]
    held = [r for r in outbox(engine, tenant) if r.flow == "cross_sell" and r.to_address == "lea@example.fr"]
    assert [(r.status, r.step) for r in held] == [("sent", 1)] and result.outcomes["held:pressure"] == 1


def test_priorities_are_configurable(engine):
    flows = {"abandoned_cart": OFF, "replenishment": OFF, "priorities": ["cross_sell", "birthday"]}
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr", birthday="1991-03-09")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 3, 2, 8, 0), lea, [item("p1")], "o1"),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    # the birthday loses the day: it is postponed to the next free morning (within late_days), not dropped
    assert sent(result) == [
        ("cross_sell", 1, utc(2026, 3, 9, 8, 0), "lea@example.fr"),
        ("birthday", 1, utc(2026, 3, 10, 7, 0), "lea@example.fr"),
    ]
    birthday = [r for r in outbox(engine, tenant) if r.flow == "birthday"]
    assert [r.status for r in birthday] == ["sent"] and result.outcomes["held:pressure"] == 1


def test_a_postponed_birthday_is_dropped_past_its_window(engine):
    flows = {"abandoned_cart": OFF, "replenishment": OFF, "priorities": ["cross_sell", "birthday"],
             "birthday": {"late_days": 0}}  # fmt: skip
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr", birthday="1991-03-09")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 3, 2, 8, 0), lea, [item("p1")], "o1"),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    assert sent(result) == [("cross_sell", 1, utc(2026, 3, 9, 8, 0), "lea@example.fr")]
    birthday = [r for r in outbox(engine, tenant) if r.flow == "birthday"]
    assert [(r.status, r.reason) for r in birthday] == [("dropped", "pressure")]


def test_a_higher_priority_takes_the_morning_slot_of_a_waiting_lower_one(engine):
    flows = {"birthday": OFF, "replenishment": OFF, "abandoned_cart": {"delays_hours": [1]}}
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 3, 2, 21, 30), lea, [item("p1")], "o1"),  # cross-sell due 22:30 Paris: 08:00 next day
        cart(utc(2026, 3, 10, 0, 30), lea, [item("p2")], "c1"),  # step 1 due 02:30 Paris: 08:00 too
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    assert sent(result) == [
        ("abandoned_cart", 1, utc(2026, 3, 10, 7, 0), "lea@example.fr"),
        ("cross_sell", 1, utc(2026, 3, 11, 7, 0), "lea@example.fr"),
    ]


def test_at_most_three_a_week_across_flows(engine):
    flows = {"birthday": OFF, "replenishment": OFF}
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 2, 26, 10, 0), lea, [item("p1")], "o1"),  # cross-sell due 5 March
        cart(utc(2026, 3, 1, 10, 0), lea, [item("p2")], "c1"),  # steps on 1, 2 and 4 March
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    assert [(flow, step, when.date().isoformat()) for flow, step, when, _ in sent(result)] == [
        ("abandoned_cart", 1, "2026-03-01"),
        ("abandoned_cart", 2, "2026-03-02"),
        ("abandoned_cart", 3, "2026-03-04"),
        ("cross_sell", 1, "2026-03-08"),  # the first day whose 7-day windows hold fewer than 3
    ]
    assert result.messages[-1].time == utc(2026, 3, 8, 7, 0)


def test_caps_are_configurable(engine):
    flows = {"birthday": OFF, "replenishment": OFF, "pressure": {"per_day": 2, "per_week": 10}}
    tenant = flow_tenant(engine, flows)
    lea = person("lea@example.fr")
    events = [
        product(utc(2026, 2, 1), "p1"),
        product(utc(2026, 2, 1), "p2"),
        order(utc(2026, 2, 20), person("x@example.fr"), [item("p1"), item("p2")], "o0"),
        order(utc(2026, 2, 26, 10, 0), lea, [item("p1")], "o1"),
        cart(utc(2026, 3, 5, 9, 0), lea, [item("p2")], "c1"),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 6))
    assert [(f, when) for f, _, when, _ in sent(result)] == [
        ("abandoned_cart", utc(2026, 3, 5, 10, 0)),  # both the same day: the higher priority first
        ("cross_sell", utc(2026, 3, 5, 10, 0)),
    ]
