"""Segment-triggered flows with ``include_existing_members``: the contacts already in the segment get a run, once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import ConfigError
from core.flows.settings import tenant_flows
from core.flows.starting import begin_for_members
from core.operations import refresh_segments
from core.pipeline import ingest
from core.sections import validate_tenant
from tests.flows.helpers import at, flow_tenant, identify, outbox, person, run, runs, track

SEGMENTS = {"rules": {"verde": {"field": "city", "equals": "Lyon"}}}


def promo(include: bool | None = True, reentry: object = None) -> dict[str, object]:
    trigger: dict[str, object] = {"segment": "verde"}
    if include is not None:
        trigger["include_existing_members"] = include
    flow: dict[str, object] = {"trigger": trigger, "steps": [{"send": "email", "template": "win_back/1"}]}
    if reentry is not None:
        flow["reentry"] = reentry
    return {"custom": {"promo_verde": flow}}


def _member(engine, tenant, email="ana@example.fr", city="Lyon", when=None):
    when = when or at(days=-3)
    with engine.begin() as conn:
        ingest(conn, tenant, identify(when, person(email, city=city)), when)


def _scan(engine, tenant, now):
    with engine.begin() as conn:
        return begin_for_members(conn, tenant, tenant_flows(tenant.config.flows), now)


def _refresh(engine, tenant, now):
    with engine.begin() as conn:
        refresh_segments(conn, tenant, now)


def test_the_members_already_in_the_segment_get_a_run_once(engine):
    tenant = flow_tenant(engine, promo(), segments=SEGMENTS)
    _member(engine, tenant)
    _member(engine, tenant, "paul@example.fr", city="Paris")
    _refresh(engine, tenant, at(days=-1))  # the first fill records no entry: no run from the trigger
    assert runs(engine, tenant) == []
    assert _scan(engine, tenant, at()) == 1
    [started] = runs(engine, tenant)
    assert (started.flow, started.trigger_key, started.context["existing_member"]) == (
        "promo_verde",
        f"c{started.contact_id}",  # reentry: once, the default of a custom flow
        True,
    )
    assert _scan(engine, tenant, at(hours=1)) == 0  # once
    assert _scan(engine, tenant, at(days=40)) == 0  # still once, even after the run ended


def test_off_by_default_and_refused_on_other_triggers(engine):
    tenant = flow_tenant(engine, promo(include=None), segments=SEGMENTS)
    _member(engine, tenant)
    _refresh(engine, tenant, at(days=-1))
    assert _scan(engine, tenant, at()) == 0 and runs(engine, tenant) == []
    bad = {"custom": {"x": {"trigger": {"event": "signup", "include_existing_members": True}, "steps": [{"tag": "a"}]}}}
    with pytest.raises(ConfigError, match="include_existing_members"):
        validate_tenant({"name": "s", "platform": "woocommerce", "url": "https://s.example", "flows": bad})
    with pytest.raises(ConfigError, match="flows.custom.promo_verde.trigger.include_existing_members"):
        validate_tenant({"name": "s", "platform": "woocommerce", "url": "https://s.example",
                         "segments": SEGMENTS, "flows": promo(include="yes")})  # fmt: skip


def test_reentry_after_the_existing_members_run(engine):
    """once (the default) and once_per_object: the run for a member already inside is their segment run;
    leaving and entering again starts nothing. every_days: a new entry starts a run once the days have passed."""
    for reentry, expected in ((None, 1), ("once_per_object", 1), ({"every_days": 30}, 2)):
        tenant = flow_tenant(
            engine,
            promo(reentry=reentry),
            segments=SEGMENTS,
            name=f"s{reentry if isinstance(reentry, str) else expected}".replace("_", "-"),
        )
        _member(engine, tenant)
        _refresh(engine, tenant, at(days=-1))
        _scan(engine, tenant, at())
        for days, city in ((35, "Paris"), (36, "Lyon")):  # leaves, comes back: recorded entries
            with engine.begin() as conn:
                when = at(days=days)
                ingest(conn, tenant, identify(when, person("ana@example.fr", city=city)), when)
        assert len(runs(engine, tenant)) == expected, reentry


def test_simulate_runs_the_existing_members_scan(engine):
    tenant = flow_tenant(engine, promo(), segments=SEGMENTS)
    _member(engine, tenant)
    _refresh(engine, tenant, at(days=-1))
    result = run(engine, tenant, [track("page_viewed", at(), person("paul@example.fr", city="Paris"))],
                 until=at() + timedelta(days=1))  # fmt: skip
    assert [(m.flow, m.to) for m in result.messages] == [("promo_verde", "ana@example.fr")]
    assert len([m for m in outbox(engine, tenant) if m.flow == "promo_verde"]) == 1
