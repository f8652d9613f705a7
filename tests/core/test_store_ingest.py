from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa

from core.pipeline import ingest, ingest_batch
from core.store import export
from core.store.schema import carts, consents, contacts, events, orders
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order


def _store(engine, tenant, *evs):
    with engine.begin() as conn:
        return [ingest(conn, tenant, e, NOW) for e in evs]


def _contacts(engine, tenant):
    with engine.connect() as conn:
        return list(export.iter_contacts(conn, tenant.id, "EUR"))


def test_same_message_id_twice_changes_nothing(engine, tenant):
    first = event("page_viewed", "2026-11-20T10:00:00Z", {"email": "a@example.com"}, message_id="dup")
    results = _store(engine, tenant, first, first)
    assert [r.outcome for r in results] == ["stored", "duplicate"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() == 1


def test_guest_order_newsletter_and_account_are_one_contact(engine, tenant):
    _store(
        engine,
        tenant,
        order("100", "paid", "2026-10-01T10:00:00Z", {"email": "Marie.Dupont@Example.fr", "first_name": "Marie"}),
        event(
            "newsletter_subscribed",
            "2026-10-02T10:00:00Z",
            {"email": "marie.dupont@example.fr"},
            properties={"list": "news"},
        ),
        event(
            "account_created",
            "2026-10-03T10:00:00Z",
            {"email": "MARIE.DUPONT@example.fr", "external_id": "42", "last_name": "Dupont"},
            source="woocommerce",
        ),
        order("101", "completed", "2026-10-04T10:00:00Z", {"external_id": "42"}, total="20.00"),
    )
    found = _contacts(engine, tenant)
    assert len(found) == 1
    marie = found[0]
    assert marie["email"] == "marie.dupont@example.fr"
    assert (marie["first_name"], marie["last_name"]) == ("Marie", "Dupont")
    assert marie["external_ids"] == {"woocommerce": "42"}
    assert marie["consent"]["email"] is True
    assert marie["orders_count"] == 2 and marie["total_spent"] == "30.00"


def test_two_contacts_named_by_one_event_are_merged_with_their_history(engine, tenant):
    _store(
        engine,
        tenant,
        order("1", "paid", "2026-10-01T10:00:00Z", {"email": "old@example.com"}),
        event(
            "account_created", "2026-10-02T10:00:00Z", {"external_id": "7", "first_name": "Zoé"}, source="woocommerce"
        ),
        # The shop now says customer 7 uses old@example.com: the same person.
        event(None, "2026-10-03T10:00:00Z", {"external_id": "7", "email": "old@example.com"}, source="woocommerce"),
    )
    found = _contacts(engine, tenant)
    assert len(found) == 1
    assert found[0]["first_name"] == "Zoé"
    assert found[0]["orders_count"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 1


def test_anonymous_visitor_merges_into_the_contact_who_identifies(engine, tenant):
    _store(
        engine,
        tenant,
        event("product_viewed", "2026-10-01T10:00:00Z", anonymous_id="anon-1", properties={"product_id": "5"}),
        order("9", "paid", "2026-09-01T10:00:00Z", {"email": "known@example.com"}),
        event(None, "2026-10-01T10:05:00Z", {"email": "known@example.com"}, anonymous_id="anon-1"),
    )
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(contacts)).scalar() == 1
        names = conn.execute(sa.select(events.c.name).where(events.c.contact_id.is_not(None))).scalars().all()
    assert sorted(names) == ["identify", "order_placed", "product_viewed"]


def test_a_shared_browser_is_not_a_reason_to_merge_two_people(engine, tenant):
    _store(
        engine,
        tenant,
        event(None, "2026-10-01T10:00:00Z", {"email": "first@example.com"}, anonymous_id="family-pc"),
        event(None, "2026-10-02T10:00:00Z", {"email": "second@example.com"}, anonymous_id="family-pc"),
        event("page_viewed", "2026-10-03T10:00:00Z", anonymous_id="family-pc", properties={"url": "/"}),
    )
    assert sorted(c["email"] for c in _contacts(engine, tenant)) == ["first@example.com", "second@example.com"]
    with engine.connect() as conn:
        last = conn.execute(sa.select(events.c.contact_id).where(events.c.name == "page_viewed")).scalar()
        second = conn.execute(sa.select(contacts.c.id).where(contacts.c.email == "second@example.com")).scalar()
    assert last == second


def test_tenants_never_see_each_other(engine):
    one = make_tenant(engine, "one")
    two = make_tenant(engine, "two")
    same = {"email": "same@example.com"}
    _store(engine, one, order("1", "paid", "2026-10-01T10:00:00Z", same, total="10.00"))
    _store(engine, two, order("1", "paid", "2026-10-01T10:00:00Z", same, total="99.00"))
    _store(engine, two, event(None, "2026-10-02T10:00:00Z", {**same, "first_name": "Only-in-two"}))
    a, b = _contacts(engine, one), _contacts(engine, two)
    assert len(a) == len(b) == 1
    assert a[0]["total_spent"] == "10.00" and b[0]["total_spent"] == "99.00"
    assert a[0]["first_name"] is None and b[0]["first_name"] == "Only-in-two"
    with engine.connect() as conn:
        assert [o["total"] for o in export.iter_orders(conn, one.id)] == ["10.00"]
        assert [o["total"] for o in export.iter_orders(conn, two.id)] == ["99.00"]


def test_an_older_order_state_never_overwrites_a_newer_one(engine, tenant):
    who = {"email": "a@example.com"}
    results = _store(
        engine,
        tenant,
        order("5", "completed", "2026-10-05T10:00:00Z", who),
        order("5", "pending", "2026-10-01T10:00:00Z", who),
    )
    assert results[0].name == "order_placed" and "order_created" in results[0].effects
    assert results[1].name == "order_updated" and "stale" in results[1].effects
    with engine.connect() as conn:
        assert conn.execute(sa.select(orders.c.status)).scalar() == "completed"


def test_status_change_is_reported_once_paid(engine, tenant):
    who = {"email": "a@example.com"}
    placed, paid, again = _store(
        engine,
        tenant,
        order("5", "pending", "2026-10-01T10:00:00Z", who),
        order("5", "paid", "2026-10-01T11:00:00Z", who),
        order("5", "completed", "2026-10-02T11:00:00Z", who),
    )
    assert "order_paid" not in placed.effects
    assert {"order_status", "order_paid"} <= paid.effects
    assert "order_status" in again.effects and "order_paid" not in again.effects


def test_cart_updates_empties_and_conversion(engine, tenant):
    who = {"email": "c@example.com"}
    item = {"product_id": "p1", "name": "Mug", "quantity": 2, "price": "12.50"}
    first, emptied, refilled, placed = _store(
        engine,
        tenant,
        event(
            "cart_updated",
            "2026-10-01T10:00:00Z",
            who,
            properties={"cart_id": "c1", "currency": "EUR", "items": [item]},
        ),
        event(
            "cart_updated", "2026-10-01T10:05:00Z", who, properties={"cart_id": "c1", "currency": "EUR", "items": []}
        ),
        event(
            "checkout_started",
            "2026-10-01T10:10:00Z",
            who,
            properties={"cart_id": "c1", "currency": "EUR", "items": [item], "recovery_url": "https://s/c1"},
        ),
        order("77", "paid", "2026-10-01T10:20:00Z", who, cart_id="c1"),
    )
    assert "cart_changed" in first.effects and "cart_emptied" in emptied.effects
    assert "cart_converted" in placed.effects
    with engine.connect() as conn:
        cart = conn.execute(sa.select(carts)).one()
        listed = list(export.iter_carts(conn, tenant.id))
    assert cart.total == Decimal("25.00") and cart.item_count == 2 and cart.checkout_started_at is not None
    assert listed[0]["converted"] is True and listed[0]["recovery_url"] == "https://s/c1"


def test_consent_changes_are_kept_as_proof_and_the_newest_wins(engine, tenant):
    _store(
        engine,
        tenant,
        event(None, "2026-10-05T10:00:00Z", {"email": "a@example.com", "consent": {"email": False}}, source="relance"),
        # An older opt-in delivered late must not undo the newer opt-out.
        event(None, "2026-10-01T10:00:00Z", {"email": "a@example.com", "consent": {"email": True, "sms": True}}),
    )
    with engine.connect() as conn:
        row = conn.execute(sa.select(contacts)).one()
        proofs = conn.execute(
            sa.select(consents.c.channel, consents.c.granted, consents.c.source).order_by(consents.c.id)
        ).all()
    assert row.email_consent is False and row.sms_consent is True
    assert proofs == [("email", False, "relance"), ("email", True, "api"), ("sms", True, "api")]


def test_tracker_signups_do_not_grant_consent_but_unsubscribes_remove_it(engine, tenant):
    _store(
        engine,
        tenant,
        event(
            "newsletter_subscribed",
            "2026-10-01T10:00:00Z",
            {"email": "t@example.com"},
            source="tracker",
            properties={"list": "n"},
        ),
    )
    assert _contacts(engine, tenant)[0]["consent"]["email"] is False
    _store(
        engine,
        tenant,
        event(
            "newsletter_subscribed",
            "2026-10-02T10:00:00Z",
            {"email": "t@example.com"},
            source="woocommerce",
            properties={"list": "n"},
        ),
    )
    assert _contacts(engine, tenant)[0]["consent"]["email"] is True
    _store(
        engine,
        tenant,
        event("newsletter_unsubscribed", "2026-10-03T10:00:00Z", {"email": "t@example.com"}, properties={"list": "n"}),
    )
    assert _contacts(engine, tenant)[0]["consent"]["email"] is False


def test_a_late_profile_event_only_fills_blanks(engine, tenant):
    _store(
        engine,
        tenant,
        event(None, "2026-10-05T10:00:00Z", {"email": "p@example.com", "city": "Lyon"}),
        event(None, "2026-10-01T10:00:00Z", {"email": "p@example.com", "city": "Paris", "first_name": "Paul"}),
    )
    person = _contacts(engine, tenant)[0]
    assert (person["city"], person["first_name"]) == ("Lyon", "Paul")


def test_products_from_the_catalogue_and_from_views(engine, tenant):
    _store(
        engine,
        tenant,
        event(
            "product_viewed",
            "2026-10-01T10:00:00Z",
            anonymous_id="x",
            properties={"product_id": "5", "name": "Seen first", "price": "3.00"},
        ),
        event(
            "product_updated",
            "2026-10-02T10:00:00Z",
            properties={"product_id": "5", "name": "Catalogue name", "brand": "B", "price": "4.50", "in_stock": False},
        ),
        event(
            "product_viewed",
            "2026-10-03T10:00:00Z",
            anonymous_id="x",
            properties={"product_id": "5", "name": "Stale view name"},
        ),
    )
    with engine.connect() as conn:
        (product,) = export.iter_products(conn, tenant.id)
    assert product["name"] == "Catalogue name" and product["price"] == "4.50" and product["in_stock"] is False


def test_batch_keeps_good_events_when_one_fails(engine, tenant, monkeypatch):
    import core.pipeline as pipeline

    good = [event(None, f"2026-10-0{i}T10:00:00Z", {"email": f"u{i}@example.com"}) for i in range(1, 4)]
    real = pipeline.ingest_events

    def flaky(conn, tenant_id, platform, evs, now):
        if any(ev.contact.email == "u2@example.com" for ev in evs):
            raise RuntimeError("boom")
        return real(conn, tenant_id, platform, evs, now)

    monkeypatch.setattr(pipeline, "ingest_events", flaky)
    try:
        ingest_batch(engine, tenant, good, lambda: NOW + timedelta(seconds=1))
    except RuntimeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("the failure must be raised")
    assert sorted(c["email"] for c in _contacts(engine, tenant)) == ["u1@example.com", "u3@example.com"]
