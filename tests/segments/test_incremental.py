"""Memberships follow events as they arrive, and entering or leaving a segment is an event."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.pipeline import ingest
from core.segments.store.membership import segments_of
from core.segments.store.refresh import refresh_tenant, update_contact
from core.store.contacts import find_contact_id
from core.store.schema import events
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order
from tests.segments import oracle
from tests.segments.shop import url_of


def _iso(when):
    return when.isoformat().replace("+00:00", "Z")


def _segment_events(conn, tenant_id):
    rows = conn.execute(
        select(events.c.name, events.c.contact_id, events.c.properties, events.c.source)
        .where(events.c.tenant_id == tenant_id, events.c.name.in_(["segment_entered", "segment_exited"]))
        .order_by(events.c.id)
    )
    return [(name, cid, props["segment"], source) for name, cid, props, source in rows]


def test_a_third_order_makes_a_loyal_customer_without_a_refresh(engine, shop, people):
    later = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        assert _segment_events(conn, shop.id) == []  # the first fill is silent
    two = next(
        p
        for p in people
        if p.email and len([o for o in oracle.paid_orders(p) if o.at >= NOW - timedelta(days=300)]) == 2
    )
    with engine.begin() as conn:
        cid = find_contact_id(conn, shop.id, two.email)
        assert "occasional_customer" in segments_of(conn, shop.id, cid)
        ingest(conn, shop, order("third-one", "paid", _iso(later), {"email": two.email}), later)
        assert "loyal_customer" in segments_of(conn, shop.id, cid)
        assert "occasional_customer" not in segments_of(conn, shop.id, cid)
        recorded = _segment_events(conn, shop.id)
    assert ("segment_entered", cid, "loyal_customer", "relance") in recorded
    assert ("segment_exited", cid, "occasional_customer", "relance") in recorded
    assert all(c == cid for _, c, _, _ in recorded)
    # The incremental update and a full refresh agree: nothing left to change.
    with engine.begin() as conn:
        report = refresh_tenant(conn, shop, later)
        assert report.entered == {} and report.exited == {}, (report.entered, report.exited)


def test_a_cold_prospect_who_clicks_warms_up_and_segment_events_do_not_recurse(engine):
    tenant = make_tenant(engine, "cold")
    old = NOW - timedelta(days=200)
    with engine.begin() as conn:
        ingest(conn, tenant, event("newsletter_subscribed", _iso(old), {"email": "cold@example.com"}), old)
        refresh_tenant(conn, tenant, NOW)
        cid = find_contact_id(conn, tenant.id, "cold@example.com")
        assert segments_of(conn, tenant.id, cid) == {"cold_prospect"}
        click = event("email_clicked", _iso(NOW), {"email": "cold@example.com"}, properties={"url": url_of("p1")})
        ingest(conn, tenant, click, NOW)
        assert segments_of(conn, tenant.id, cid) == {"warm_prospect"}
        assert sorted(_segment_events(conn, tenant.id)) == [
            ("segment_entered", cid, "warm_prospect", "relance"),
            ("segment_exited", cid, "cold_prospect", "relance"),
        ]


def test_nothing_is_maintained_before_the_first_refresh(engine):
    tenant = make_tenant(engine, "fresh")
    with engine.begin() as conn:
        ingest(conn, tenant, order("o1", "paid", _iso(NOW), {"email": "a@example.com"}), NOW)
        cid = find_contact_id(conn, tenant.id, "a@example.com")
        assert segments_of(conn, tenant.id, cid) == set()
        assert update_contact(conn, tenant, cid, NOW) == []


def test_an_abandoned_cart_enters_the_rule_segment_as_it_arrives(engine, shop, people):
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
    person = next(p for p in people if p.email and not p.carts and not p.orders)
    cart_time = NOW - timedelta(hours=2)
    cart = event(
        "cart_updated",
        _iso(cart_time),
        {"email": person.email},
        source="woocommerce",
        properties={"cart_id": "late-cart", "items": [{"product_id": "p1", "quantity": 1, "price": "8.90"}]},
    )
    with engine.begin() as conn:
        ingest(conn, shop, cart, NOW)
        cid = find_contact_id(conn, shop.id, person.email)
        assert "cart_abandoners" in segments_of(conn, shop.id, cid)
        assert ("segment_entered", cid, "cart_abandoners", "relance") in _segment_events(conn, shop.id)
    # An order placed after the cart takes them out again.
    with engine.begin() as conn:
        ingest(conn, shop, order("after-cart", "pending", _iso(NOW), {"email": person.email}), NOW)
        assert "cart_abandoners" not in segments_of(conn, shop.id, cid)


def test_a_merge_keeps_the_survivor_current(engine):
    tenant = make_tenant(engine, "merge")
    m = {"email": "m@example.com", "external_id": "42"}
    with engine.begin() as conn:
        refresh_tenant(conn, tenant, NOW)
        for n, when in enumerate((NOW - timedelta(days=100), NOW - timedelta(days=50))):
            ingest(conn, tenant, order(f"m{n}", "paid", _iso(when), m), NOW)
        ingest(conn, tenant, order("x1", "paid", _iso(NOW - timedelta(days=10)), {"email": "x@example.com"}), NOW)
        survivor = find_contact_id(conn, tenant.id, "m@example.com")
        merged = find_contact_id(conn, tenant.id, "x@example.com")
        assert "occasional_customer" in segments_of(conn, tenant.id, survivor)
        assert "occasional_customer" in segments_of(conn, tenant.id, merged)
        # The shop says customer 42 uses x@example.com too: the two contacts are one person.
        both = event("identify", _iso(NOW), {"email": "x@example.com", "external_id": "42"}, source="woocommerce")
        ingest(conn, tenant, both, NOW)
        assert find_contact_id(conn, tenant.id, "x@example.com") == survivor
        assert segments_of(conn, tenant.id, survivor) == {"loyal_customer"}
        assert segments_of(conn, tenant.id, merged) == set()
