"""The hourly refresh recomputes only the contacts time moved since the last one, and agrees with the oracle."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.pipeline import ingest, ingest_page
from core.segments.settings import BUILTIN_SEGMENTS, segment_settings
from core.segments.store import refresh as refresh_module
from core.segments.store.builtin import moved_by_time, moved_params
from core.segments.store.membership import member_ids
from core.segments.store.metrics import get_models
from core.segments.store.refresh import owe_full_refresh, refresh_tenant
from core.store.schema import contacts
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order
from tests.segments import oracle
from tests.segments.shop import build_people


@pytest.fixture
def people():
    return build_people(seed=3, count=80)


@pytest.fixture
def no_refit(monkeypatch):
    """The models of the first refresh stay (a refit recomputes every contact, which these tests must not hide)."""
    monkeypatch.setattr(refresh_module, "REFIT_AFTER", timedelta(days=10_000))


def _iso(when):
    return when.isoformat().replace("+00:00", "Z")


def _members(conn, tenant_id):
    emails = dict(conn.execute(select(contacts.c.id, contacts.c.email).where(contacts.c.tenant_id == tenant_id)).all())
    return {name: {emails[i] for i in member_ids(conn, tenant_id, name)} for name in BUILTIN_SEGMENTS}


def test_refreshes_through_half_a_year_move_whom_time_moves_and_only_them(engine, shop, people, no_refit):
    """Refreshed every few days (and once within the hour) for 200 days without a refit: each refresh
    recomputes only the contacts time moved, yet every built-in segment equals the oracle's at every step,
    and the events recorded are exactly the differences between steps."""
    with engine.begin() as conn:
        assert refresh_tenant(conn, shop, NOW).examined is None  # the first one: everyone
        model = get_models(conn, shop.id).purchase
        known = sum(1 for p in people if p.email)
        before = _members(conn, shop.id)
        assert before == oracle.builtins(people, NOW, model.k, model.beta)
    steps = [NOW + timedelta(minutes=40)] + [NOW + timedelta(days=d, hours=d % 7) for d in range(3, 200, 3)]
    moved, examined = set(), []
    for when in steps:
        with engine.begin() as conn:
            report = refresh_tenant(conn, shop, when)
            assert not report.refitted
            assert report.examined is not None, when  # only the contacts time moved
            examined.append(report.examined)
            after = _members(conn, shop.id)
            assert after == oracle.builtins(people, when, model.k, model.beta), when
        expected = oracle.expected_changes(before, after)
        assert oracle.recorded_changes(report.events) == expected, when
        moved |= {name for _, name, _ in expected}
        before = after
    # time moved contacts into and out of every built-in segment that time alone changes
    assert {
        "warm_prospect",
        "cold_prospect",
        "loyal_customer",
        "occasional_customer",
        "at_risk",
        "new_customer",
    } <= moved
    assert examined[0] < known and max(examined) < known, examined  # never everyone: a few at each step
    assert sum(examined) > 0


def test_every_contact_is_recomputed_when_asked_after_a_refit_or_a_change(engine, shop, no_refit, monkeypatch):
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        assert refresh_tenant(conn, shop, later).examined is not None
        assert refresh_tenant(conn, shop, later, full=True).examined is None
        assert refresh_tenant(conn, shop, later, metrics=True).examined is None
        # the models refitted since the last refresh (by another process): everyone
        monkeypatch.setattr(refresh_module, "REFIT_AFTER", timedelta(minutes=30))
        report = refresh_tenant(conn, shop, later + timedelta(hours=1))
        assert report.refitted and report.examined is None
        monkeypatch.setattr(refresh_module, "REFIT_AFTER", timedelta(days=10_000))
        assert refresh_tenant(conn, shop, later + timedelta(hours=2)).examined is not None
        # a clock that went back
        assert refresh_tenant(conn, shop, later).examined is None
        # more moved than the limit
        monkeypatch.setattr(refresh_module, "MOVED_LIMIT", 0)
        assert refresh_tenant(conn, shop, later + timedelta(days=60)).examined is None
        monkeypatch.setattr(refresh_module, "MOVED_LIMIT", 20_000)
        # a changed threshold: the segments it defines are filled again, from everyone
        segments = {**(shop.config.segments or {}), "thresholds": {"loyal_orders": 2}}
        tenant = replace(shop, config=replace(shop.config, segments=segments))
        report = refresh_tenant(conn, tenant, later + timedelta(days=60, hours=1))
        assert report.examined is None and "loyal_customer" in report.filled
        assert refresh_tenant(conn, tenant, later + timedelta(days=60, hours=2)).examined is not None


def test_the_contacts_found_are_those_whose_edges_time_crossed(engine):
    """``moved_by_time`` finds a contact exactly when the span it is given (widened by ``EDGE_MARGIN``) holds one
    of their edges: their one order 30 days on (new customer), 180 days on (at risk, from their metrics), 365
    days on (out of the loyalty window); their email click 90 days on (out of the engagement window)."""
    shop = make_tenant(engine, "edges")
    settings = segment_settings(shop.config.segments)
    bought, clicked = NOW - timedelta(days=10), NOW - timedelta(days=5)
    with engine.begin() as conn:
        ingest(conn, shop, order("o-1", "paid", _iso(bought), {"email": "buyer@example.com"}), NOW)
        ingest(conn, shop, event("email_clicked", _iso(clicked), {"email": "reader@example.com"}), NOW)
        refresh_tenant(conn, shop, NOW)
        ids = dict(conn.execute(select(contacts.c.email, contacts.c.id).where(contacts.c.tenant_id == shop.id)).all())
        buyer, reader = ids["buyer@example.com"], ids["reader@example.com"]
        query = moved_by_time(conn.dialect.name, settings.thresholds.engagement_events)

        def found(at, minutes: float = 10):
            span = timedelta(minutes=minutes)
            params = moved_params(shop.id, at - span, at + span, settings.thresholds)
            return set(conn.execute(query, params).scalars())

        for days in (30, 180, 365):
            assert found(bought + timedelta(days=days)) == {buyer}, days
            assert found(bought + timedelta(days=days, minutes=55)) == {buyer}, days  # within the margin
            assert found(bought + timedelta(days=days, minutes=75)) == set(), days  # past it
            assert found(bought + timedelta(days=days, minutes=-75)) == set(), days
        assert found(clicked + timedelta(days=90)) == {reader}
        assert found(clicked + timedelta(days=90, hours=2)) == set()
        # the buyer's order counts for the engagement window too (an order_placed event)
        assert found(bought + timedelta(days=90)) == {buyer}
        assert found(NOW + timedelta(days=1000), minutes=600) == set()


def test_a_backfill_leaves_the_next_refresh_to_recompute_everyone(engine, shop, no_refit):
    """Pages of history stored without settling their contacts (an import or a first sync interrupted before
    ``finish_backfill``): the next refresh recomputes every contact, and puts the new customer where they belong."""
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        late = order("late-1", "paid", "2026-06-01T10:00:00Z", {"email": "late@example.com"})
        ingest_page(conn, shop, [late], later, backfill=True)
        newcomer = conn.execute(select(contacts.c.id).where(contacts.c.email == "late@example.com")).scalar()
        assert newcomer not in member_ids(conn, shop.id, "occasional_customer")  # not settled by the page
        report = refresh_tenant(conn, shop, later)
        assert report.examined is None
        assert newcomer in member_ids(conn, shop.id, "occasional_customer")
        assert refresh_tenant(conn, shop, later + timedelta(hours=1)).examined is not None  # then hourly again
        # a page that stores nothing new (the same event again) owes nothing
        assert [r.outcome for r in ingest_page(conn, shop, [late], later, backfill=True)] == ["duplicate"]
        assert refresh_tenant(conn, shop, later + timedelta(hours=2)).examined is not None


@pytest.mark.parametrize("saw_owed", [False, True])
def test_a_backfill_page_committed_during_a_refresh_is_owed_to_the_next(engine, shop, no_refit, monkeypatch, saw_owed):
    """A refresh running while an import's page commits (its events possibly unseen by the refresh): the page's
    mark stays for the next refresh, whether the running one was hourly or itself paying an earlier mark."""
    if engine.dialect.name != "postgresql":
        pytest.skip("two writers at once: PostgreSQL (SQLite runs one transaction at a time)")
    later = NOW + timedelta(hours=1)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        if saw_owed:
            owe_full_refresh(conn, shop.id)
    sync = refresh_module._sync
    calls = []

    def page_commits_meanwhile(*args, **kwargs):
        if not calls:
            with engine.begin() as other:  # another connection: an import's page
                owe_full_refresh(other, shop.id)
        calls.append(1)
        return sync(*args, **kwargs)

    monkeypatch.setattr(refresh_module, "_sync", page_commits_meanwhile)
    with engine.begin() as conn:
        assert (refresh_tenant(conn, shop, later).examined is None) is saw_owed
    monkeypatch.setattr(refresh_module, "_sync", sync)
    with engine.begin() as conn:
        assert refresh_tenant(conn, shop, later + timedelta(hours=1)).examined is None  # the page's mark paid
        assert refresh_tenant(conn, shop, later + timedelta(hours=2)).examined is not None  # and cleared
