"""The full refresh puts every contact where the oracle says, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from core.segments.settings import BUILTIN_SEGMENTS, TYPOLOGIES
from core.segments.store.membership import member_ids
from core.segments.store.metrics import get_models
from core.segments.store.refresh import refresh_tenant
from core.store.schema import contacts
from tests.conftest import NOW
from tests.segments import oracle


def _emails(conn, tenant_id, segment):
    ids = member_ids(conn, tenant_id, segment)
    rows = conn.execute(select(contacts.c.id, contacts.c.email).where(contacts.c.tenant_id == tenant_id))
    return {email for cid, email in rows if cid in ids}


def test_builtins_match_the_oracle(engine, shop, people):
    with engine.begin() as conn:
        report = refresh_tenant(conn, shop, NOW)
        assert set(report.filled) >= set(BUILTIN_SEGMENTS)
        model = get_models(conn, shop.id).purchase
        expected = oracle.builtins(people, NOW, model.k, model.beta)
        for name in BUILTIN_SEGMENTS:
            assert _emails(conn, shop.id, name) == expected[name], name
        known = {p.email for p in people if p.email}
        typed = [_emails(conn, shop.id, name) for name in TYPOLOGIES]
        assert sorted(e for group in typed for e in group) == sorted(known)  # each in exactly one
        assert all(expected[name] for name in TYPOLOGIES)  # the shop exercises every typology


def test_rule_examples_match_the_oracle(engine, shop, people):
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        expected = oracle.rules(people, NOW)
        for name in oracle.RULES:
            assert _emails(conn, shop.id, name) == expected[name], name
        assert all(expected[name] for name in oracle.RULES), expected


def test_a_later_refresh_records_exactly_the_changes(engine, shop, people):
    """The steady refresh (its diff against the stored memberships) records every entry and exit of the
    built-in segments, and only those: time passing moves contacts between every built-in, and a contact
    no longer reachable leaves all of its segments."""
    later = NOW + timedelta(days=100)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        model = get_models(conn, shop.id).purchase
        before = oracle.builtins(people, NOW, model.k, model.beta)
        for name in BUILTIN_SEGMENTS:
            assert _emails(conn, shop.id, name) == before[name], name
        gone = sorted(before["at_risk"] & before["loyal_customer"] | before["new_customer"])[0]
        conn.execute(
            update(contacts).where(contacts.c.tenant_id == shop.id, contacts.c.email == gone).values(email=None)
        )
    with engine.begin() as conn:
        report = refresh_tenant(conn, shop, later)
        model = get_models(conn, shop.id).purchase
        after = oracle.builtins(people, later, model.k, model.beta)
        after = {name: members - {gone} for name, members in after.items()}
        for name in BUILTIN_SEGMENTS:
            assert _emails(conn, shop.id, name) == after[name], name
    recorded = oracle.recorded_changes(report.events)
    expected = oracle.expected_changes(before, after)
    assert recorded == expected
    for name in BUILTIN_SEGMENTS:  # the counts of the report agree
        assert report.entered.get(name, 0) == len(after[name] - before[name]), name
        assert report.exited.get(name, 0) == len(before[name] - after[name]), name
    moved = {name for _, name, _ in expected}
    assert {"cold_prospect", "new_customer", "at_risk"} <= moved, moved  # the shop exercises them
    assert any(email == gone for _, _, email in recorded)


def test_the_events_of_many_changes_name_their_contacts_in_one_query(engine, shop, people):
    """A refresh after a refit may record thousands of changes: their contacts' emails are read at once, and
    their exits deleted by one statement executed for each."""
    from sqlalchemy import event as sa_event

    from core.segments.store.changes import Change, change_events
    from core.segments.store.refresh import _apply

    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        rows = conn.execute(select(contacts.c.id, contacts.c.email).where(contacts.c.tenant_id == shop.id)).all()
        named = {cid: email for cid, email in rows if email}
        changes = [Change("cold_prospect", cid, cid % 2 == 0) for cid in sorted(named)]
        sa_event.listen(engine, "before_cursor_execute", seen)
        try:
            events = change_events(conn, shop, changes, NOW)
            reads = len(statements)
            _apply(conn, shop.id, changes, NOW)
        finally:
            sa_event.remove(engine, "before_cursor_execute", seen)
    assert len(changes) > 20 and reads == 1, statements
    assert [(e.event, e.contact.email) for e in events] == [
        ("segment_entered" if c.entered else "segment_exited", named[c.contact_id]) for c in changes
    ]
    assert len(statements) - reads == 2  # the entries' insert, the exits' delete
