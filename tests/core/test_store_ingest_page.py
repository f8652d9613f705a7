"""A page of events stored set-based leaves the store as storing them one by one does, in a few statements."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.pipeline import ingest, ingest_page
from core.store import export
from core.store.ingest import ingest_events, stored_message_ids
from core.store.schema import consents, contact_identities, events
from tests.conftest import NOW, make_tenant, statements_run
from tests.core.helpers import event, order


def _cart(cart_id: str, when: str, who: dict, items: int, **extra) -> object:
    lines = [{"product_id": f"p{i}", "name": "Thing", "quantity": 1, "price": "5.00"} for i in range(items)]
    props = {"cart_id": cart_id, "currency": "EUR", "total": f"{5 * items}.00", "items": lines, **extra}
    return event("cart_updated", when, who, source="woocommerce", properties=props)


def _product(product_id: str, when: str, name: str) -> object:
    props = {"product_id": product_id, "name": name, "price": "5.00", "currency": "EUR", "in_stock": True}
    return event("product_updated", when, source="woocommerce", properties={**props, "updated_at": when})


def _mixed_page(prefix: str) -> list:
    """Events that depend on each other inside one page: every case the per-event path handles."""
    marie = {"email": f"marie@{prefix}.fr", "first_name": "Marie"}
    dup = event("page_viewed", "2026-10-01T09:00:00Z", {"email": f"dup@{prefix}.fr"}, message_id=f"{prefix}-dup")
    return [
        dup,
        _product("p1", "2026-10-01T08:00:00Z", "Old name"),
        _product("p1", "2026-10-01T09:00:00Z", "New name"),
        _product("p1", "2026-10-01T08:30:00Z", "Stale name"),  # older: stale
        _cart("c1", "2026-10-01T10:00:00Z", marie, 2, recovery_url="https://shop/c1"),
        _cart("c1", "2026-10-01T10:05:00Z", marie, 3),
        order("100", "pending", "2026-10-01T10:10:00Z", marie, cart_id="c1"),
        order("100", "paid", "2026-10-01T10:20:00Z", marie, total="12.00"),
        order("100", "pending", "2026-10-01T10:15:00Z", marie),  # older: stale
        order("101", "completed", "2026-10-02T10:00:00Z", {"email": f"marie@{prefix}.fr", "external_id": "7"}),
        event(
            "account_created", "2026-10-02T11:00:00Z", {"external_id": "8", "last_name": "Durand"}, source="woocommerce"
        ),  # fmt: skip
        # names customer 8 and Marie's email: two contacts merged in the middle of the page
        event(None, "2026-10-03T10:00:00Z", {"external_id": "8", "email": f"marie@{prefix}.fr"}, source="woocommerce"),
        order("102", "completed", "2026-10-04T10:00:00Z", {"external_id": "8"}, total="30.00"),
        event("product_viewed", "2026-10-04T11:00:00Z", anonymous_id=f"{prefix}-anon", properties={"product_id": "p1"}),
        event(None, "2026-10-04T11:05:00Z", {"email": f"paul@{prefix}.fr"}, anonymous_id=f"{prefix}-anon"),
        event(
            "newsletter_subscribed", "2026-10-04T12:00:00Z", {"email": f"paul@{prefix}.fr"}, properties={"list": "news"}
        ),  # fmt: skip
        event("newsletter_unsubscribed", "2026-10-04T12:30:00Z", {"email": f"paul@{prefix}.fr"}),
        event(None, "2026-10-05T10:00:00Z", {"email": f"other@{prefix}.fr"}, anonymous_id=f"{prefix}-anon"),
        _cart("c2", "2026-10-05T10:00:00Z", {"email": f"other@{prefix}.fr"}, 1),
        _cart("c2", "2026-10-05T10:30:00Z", {"email": f"other@{prefix}.fr"}, 0),
        dup,
    ]


def _snapshot(engine, tenant) -> dict:
    with engine.connect() as conn:
        contacts = sorted((c for c in export.iter_contacts(conn, tenant.id, "EUR")), key=lambda c: c["email"] or "")
        for contact in contacts:
            contact.pop("id", None)
            contact.pop("created_at", None)
            contact.pop("updated_at", None)
        identities = conn.execute(
            sa.select(contact_identities.c.kind, contact_identities.c.value).where(
                contact_identities.c.tenant_id == tenant.id
            )
        ).all()
        choices = conn.execute(
            sa.select(consents.c.channel, consents.c.granted, consents.c.at).where(consents.c.tenant_id == tenant.id)
        ).all()
        names = conn.execute(
            sa.select(events.c.name, events.c.contact_id.is_(None)).where(events.c.tenant_id == tenant.id)
        ).all()
        return {
            "contacts": contacts,
            "identities": sorted(identities),
            "consents": sorted(choices),
            "orders": list(export.iter_orders(conn, tenant.id)),
            "carts": list(export.iter_carts(conn, tenant.id)),
            "products": list(export.iter_products(conn, tenant.id)),
            "events": sorted(names),
        }


def _outcome(result) -> tuple:
    return (result.outcome, result.name, sorted(result.effects), result.order_id is None, result.cart_id is None)


def test_a_page_stores_what_one_event_at_a_time_stores(engine):
    one, page = make_tenant(engine, "one"), make_tenant(engine, "page")
    with engine.begin() as conn:
        singles = [ingest(conn, one, ev, NOW) for ev in _mixed_page("x")]
    with engine.begin() as conn:
        paged = ingest_page(conn, page, _mixed_page("x"), NOW)
    assert [_outcome(r) for r in paged] == [_outcome(r) for r in singles]
    assert _snapshot(engine, page) == _snapshot(engine, one)
    assert paged[0].outcome == "stored" and paged[-1].outcome == "duplicate"
    marie = next(c for c in _snapshot(engine, page)["contacts"] if c["email"] == "marie@x.fr")
    assert marie["last_name"] == "Durand" and marie["orders_count"] == 3, marie


def test_a_page_of_new_then_known_records_runs_a_few_statements(engine):
    tenant = make_tenant(engine, "few")
    first = [order(str(i), "completed", "2026-10-01T10:00:00Z", {"email": f"c{i % 40}@x.fr"}) for i in range(100)]
    again = [order(str(i), "refunded", "2026-10-02T10:00:00Z", {"email": f"c{i % 40}@x.fr"}) for i in range(100)]
    for page, effect in ((first, "order_created"), (again, "order_changed")):
        with statements_run(engine) as counted, engine.begin() as conn:
            results = ingest_events(conn, tenant.id, "woocommerce", page, NOW)
        assert all(effect in r.effects for r in results)
        # events, identities, contacts, orders, items: each read and written once, whatever the page's size
        assert len(counted) <= 10, counted
    with engine.connect() as conn:
        assert [o["status"] for o in export.iter_orders(conn, tenant.id)] == ["refunded"] * 100
        assert len(list(export.iter_contacts(conn, tenant.id))) == 40


KNOWN = {"email": "known@x.fr"}


def test_postgresql_runs_the_same_statements_whatever_the_page_size(engine):
    """Lists go to PostgreSQL as one array parameter (``= ANY``), not an expanded ``IN`` whose text changes with
    the number of values (psycopg parses a new text again in Python and never prepares it); the identities of
    a page, of every kind, are read in one statement."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's array parameters")
    texts = []
    for size in (3, 7):  # each in a tenant of its own, as the other was before it
        tenant = make_tenant(engine, f"sizes{size}")
        with engine.begin() as conn:
            seed = event("page_viewed", "2026-10-01T09:00:00Z", KNOWN)
            ingest_events(conn, tenant.id, "woocommerce", [seed], NOW)
        who = [{"email": f"s{size}-{i}@x.fr", "external_id": f"{i}"} for i in range(size)]
        when = "2026-10-01T10:00:00Z"
        page = [order(f"{size}-{i}", "completed", when, who[i], cart_id=f"cart-{size}-{i}") for i in range(size)]
        page.append(event("page_viewed", "2026-10-01T11:00:00Z", KNOWN, anonymous_id=f"a{size}"))
        with statements_run(engine) as counted, engine.begin() as conn:
            stored_message_ids(conn, tenant.id, [e.message_id for e in page])
            ingest_events(conn, tenant.id, "woocommerce", page, NOW)
        texts.append(counted)
    assert texts[0] == texts[1]
    lookups = [s for s in texts[0] if "FROM contact_identities" in s and "value" in s.split("FROM")[0]]
    assert len(lookups) == 1, texts[0]
