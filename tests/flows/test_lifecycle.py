"""The lifecycle flows with a simulated clock: welcome, browse abandonment, win-back, back in stock, sunset,
and the fallbacks that give a prospect products."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.events import parse_event
from core.store.schema import consents, contacts

from .helpers import OFF, at, cart, flow_tenant, identify, item, order, person, product, run, runs, sent, track

#: Every default flow off: each test switches on the one it is about.
QUIET = {"abandoned_cart": OFF, "birthday": OFF, "cross_sell": OFF, "replenishment": OFF, "welcome": OFF}


def catalogue(when: datetime, *ids: str, **props: object) -> list:
    return [product(when, p, **props) for p in ids]


def best_selling(when: datetime) -> list:
    """Three products, p1 sold most, then p2, then p3 (orders of another customer)."""
    buyer = person("buyer@example.fr")
    return [
        *catalogue(when, "p1", "p2", "p3"),
        order(when + timedelta(minutes=1), buyer, [item("p1"), item("p2")], "b1"),
        order(when + timedelta(minutes=2), buyer, [item("p1")], "b2"),
        order(when + timedelta(minutes=3), buyer, [item("p1"), item("p2"), item("p3")], "b3"),
    ]


def signup(when: datetime, email: str, source: str = "tracker") -> object:
    raw = {
        "type": "track",
        "event": "newsletter_subscribed",
        "message_id": f"signup-{email}-{when.timestamp()}",
        "timestamp": when.isoformat(),
        "contact": {"email": email},
        "properties": {"list": "footer"},
    }
    return parse_event(raw, default_source=source)


def confirm(when: datetime, email: str) -> object:
    """What clicking the double opt-in link records (``core.messages.preferences.confirm_subscription``)."""
    raw = {
        "type": "track",
        "event": "newsletter_subscribed",
        "message_id": f"confirm-{email}",
        "timestamp": when.isoformat(),
        "contact": {"email": email, "consent": {"email": True}},
        "properties": {"list": "footer", "confirmed": True},
    }
    return parse_event(raw, default_source="relance")


# -- welcome --------------------------------------------------------------------------------------


def test_double_opt_in_subscriber_gets_welcome_after_confirming(engine):
    tenant = flow_tenant(engine, {**QUIET, "welcome": {"coupon": "HELLO10"}})
    events = [
        *best_selling(at(days=-10)),
        signup(at(), "ines@example.fr"),  # a storefront form: no consent until confirmed
        confirm(at(hours=3), "ines@example.fr"),
        signup(at(), "shop@example.fr", source="woocommerce"),  # a shop signup: consent at once
    ]
    result = run(engine, tenant, events, until=at(days=10))
    welcome = [(m.to, m.step, m.time) for m in result.messages if m.flow == "welcome"]
    assert welcome == [
        ("shop@example.fr", 1, at()),
        ("ines@example.fr", 1, at(hours=3)),
        ("shop@example.fr", 2, at(days=2)),
        ("ines@example.fr", 2, at(days=2, hours=3)),
        ("shop@example.fr", 3, at(days=5)),
        ("ines@example.fr", 3, at(days=5, hours=3)),
    ]
    assert result.outcomes["dropped:consent"] == 0  # the unconfirmed signup started nothing
    first = next(m for m in result.messages if m.flow == "welcome")
    assert first.products == ["p1", "p2", "p3"]  # a prospect gets the best sellers, not no_products


def test_welcome_ends_at_the_first_order(engine):
    tenant = flow_tenant(engine, QUIET | {"welcome": {}})
    lea = person("lea@example.fr")
    events = [*best_selling(at(days=-10)), signup(at(), "lea@example.fr", "api"), order(at(days=1), lea, [item("p1")])]
    result = run(engine, tenant, events, until=at(days=10))
    assert [(m.flow, m.step) for m in result.messages] == [("welcome", 1)]
    assert [(r.flow, r.state, r.end_reason) for r in runs(engine, tenant)] == [("welcome", "exited", "ordered")]


# -- browse abandonment ---------------------------------------------------------------------------


def viewed(when: datetime, contact: dict, product_id: str, categories: list[str] | None = None) -> object:
    return track("product_viewed", when, contact, product_id=product_id, categories=categories or ["lamps"])


def test_browse_abandonment_shows_the_viewed_product_and_similar_ones_once_a_week(engine):
    tenant = flow_tenant(engine, QUIET | {"browse_abandonment": {"enabled": True}})
    nora = person("nora@example.fr")
    events = [
        *best_selling(at(days=-10)),
        viewed(at(), nora, "p3"),
        viewed(at(hours=1), nora, "p2"),  # the timing counts from the latest view
        viewed(at(days=2), nora, "p3"),  # within the week: no second message
    ]
    result = run(engine, tenant, events, until=at(days=6))
    assert sent(result) == [("browse_abandonment", 1, at(hours=5), "nora@example.fr")]
    assert result.messages[0].products[:2] == ["p2", "p3"]  # what was viewed, latest first
    assert "p1" in result.messages[0].products  # then a similar best seller


def test_browse_abandonment_gives_way_to_a_cart(engine):
    tenant = flow_tenant(engine, QUIET | {"browse_abandonment": {"enabled": True}})
    nora = person("nora@example.fr")
    events = [*best_selling(at(days=-10)), viewed(at(), nora, "p3"), cart(at(hours=2), nora, [item("p3")])]
    result = run(engine, tenant, events, until=at(days=2))
    assert sent(result) == []
    assert [(r.state, r.end_reason) for r in runs(engine, tenant)] == [("exited", "carted")]


# -- win-back -------------------------------------------------------------------------------------


def test_win_back_starts_on_entering_at_risk_and_ends_on_order(engine):
    flows = QUIET | {"win_back": {"enabled": True, "segment": "sleepy", "coupon": "BACK15"}}
    tenant = flow_tenant(engine, flows)
    sam = person("sam@example.fr")
    entered = track("segment_entered", at(), sam, segment="sleepy")
    result = run(engine, tenant, [*best_selling(at(days=-10)), entered], until=at(days=20))
    assert [(m.flow, m.step, m.time) for m in result.messages] == [
        ("win_back", 1, at()),
        ("win_back", 2, at(days=7)),
    ]

    other = flow_tenant(engine, flows, name="other")
    again = [*best_selling(at(days=-10)), track("segment_entered", at(), sam, segment="sleepy"),
             order(at(days=2), sam, [item("p2")], "o9")]  # fmt: skip
    result = run(engine, other, again, until=at(days=20))
    assert [(m.flow, m.step) for m in result.messages] == [("win_back", 1)]


# -- back in stock --------------------------------------------------------------------------------


def test_back_in_stock_when_the_product_returns(engine):
    tenant = flow_tenant(engine, QUIET | {"back_in_stock": {"enabled": True}})
    zoe, max_ = person("zoe@example.fr"), person("max@example.fr")
    events = [
        *best_selling(at(days=-10)),
        product(at(days=-1), "p9", in_stock=False, categories=["lamps"]),
        track("back_in_stock_requested", at(), zoe, product_id="p9"),
        cart(at(hours=1), max_, [item("p9")], "c1"),  # carted while out of stock
        track("back_in_stock_requested", at(), zoe, product_id="p1"),  # in stock: nothing to wait for
        product(at(days=3), "p9", in_stock=False, price="12.00"),  # still out: nothing
        product(at(days=4), "p9", in_stock=True),
        product(at(days=6), "p9", in_stock=True, price="11.00"),  # already told: once
    ]
    flows = {**QUIET, "back_in_stock": {"enabled": True}}
    tenant = flow_tenant(engine, flows, name="stock")
    result = run(engine, tenant, events, until=at(days=10))
    got = [(m.flow, m.to, m.time) for m in result.messages]
    assert sorted(got) == [
        ("back_in_stock", "max@example.fr", at(days=4)),
        ("back_in_stock", "zoe@example.fr", at(days=4)),
    ]
    assert all(m.products[0] == "p9" for m in result.messages)


def test_back_in_stock_gives_up_after_the_wait(engine):
    tenant = flow_tenant(engine, QUIET | {"back_in_stock": {"enabled": True, "max_wait_days": 5}})
    zoe = person("zoe@example.fr")
    events = [product(at(days=-1), "p9", in_stock=False), track("back_in_stock_requested", at(), zoe, product_id="p9"),
              product(at(days=8), "p9", in_stock=True)]  # fmt: skip
    result = run(engine, tenant, events, until=at(days=10))
    assert sent(result) == []
    assert [(r.state, r.end_reason) for r in runs(engine, tenant)] == [("exited", "still_out_of_stock")]


# -- sunset ---------------------------------------------------------------------------------------


def test_sunset_unsubscribes_the_silent_with_proof_and_keeps_who_engages(engine):
    tenant = flow_tenant(engine, QUIET | {"sunset": {"enabled": True, "inactive_days": 60, "grace_days": 10}})
    start = at(days=-70)
    events = [
        identify(start, person("silent@example.fr")),
        identify(start, person("clicker@example.fr")),
        identify(start, person("busy@example.fr")),
        track("page_viewed", at(days=-15), {"email": "busy@example.fr"}, url="https://shop.example/"),
        # asked on day -10 (60 days quiet); the clicker clicks the re-permission message within the grace
        track("email_clicked", at(days=-5), {"email": "clicker@example.fr"}, flow="sunset", url="https://s.example/"),
    ]
    result = run(engine, tenant, events, until=at(days=20))
    asked = sorted(m.to for m in result.messages if m.flow == "sunset")
    assert asked == ["clicker@example.fr", "silent@example.fr"]
    with engine.connect() as conn:
        state = dict(conn.execute(select(contacts.c.email, contacts.c.email_consent)).all())
        proof = conn.execute(
            select(consents.c.granted, consents.c.source, consents.c.detail)
            .join(contacts, contacts.c.id == consents.c.contact_id)
            .where(contacts.c.email == "silent@example.fr", consents.c.granted.is_(False))
        ).all()
    assert state == {"silent@example.fr": False, "clicker@example.fr": True, "busy@example.fr": True}
    assert len(proof) == 1 and proof[0].source == "relance" and proof[0].detail.startswith("sunset: ")


# -- content for everyone -------------------------------------------------------------------------


def test_a_prospect_gets_trending_products_of_the_categories_viewed_then_best_sellers(engine):
    flows = {**QUIET, "custom": {"promo": {"trigger": {"event": "account_created"},
                                           "steps": [{"send": "email", "content": "recommendations"}]}}}  # fmt: skip
    tenant = flow_tenant(engine, flows)
    ana = person("ana@example.fr")
    buyer = person("buyer@example.fr")
    events = [
        product(at(days=-20), "p1", categories=["mugs"]),
        product(at(days=-20), "p2", categories=["lamps"]),
        product(at(days=-20), "p3", categories=["lamps"]),
        product(at(days=-20), "new", categories=["rugs"]),
        order(at(days=-10), buyer, [item("p1")], "b1"),
        order(at(days=-9), buyer, [item("p1")], "b2"),
        order(at(days=-8), buyer, [item("p3")], "b3"),
        viewed(at(days=-1), ana, "p2"),
        track("account_created", at(), ana),
    ]
    result = run(engine, tenant, events, until=at(days=1))
    # p3 trends in the viewed category (lamps) first, then the best seller p1, then the rest by arrival
    assert [m.products for m in result.messages] == [["p3", "p1", "new", "p2"]]


def test_a_shop_without_any_product_still_drops_for_no_products(engine):
    flows = {**QUIET, "custom": {"promo": {"trigger": {"event": "account_created"},
                                           "steps": [{"send": "email", "content": "recommendations"}]}}}  # fmt: skip
    tenant = flow_tenant(engine, flows)
    result = run(engine, tenant, [track("account_created", at(), person("ana@example.fr"))], until=at(days=1))
    assert result.messages == [] and result.outcomes["dropped:no_products"] == 1


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
