"""The full refresh puts every contact where the oracle says, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

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
