"""Builders for the campaign tests: a tenant with contacts in segments, and a simulated clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from core.campaigns.sending import CampaignReport, next_due, run_due
from core.campaigns.store.campaigns import recipients_of
from core.campaigns.store.schema import campaigns
from core.operations import refresh_segments
from core.pipeline import ingest
from core.store.schema import messages
from core.store.tenants import Tenant
from tests.conftest import make_tenant
from tests.flows.helpers import identify, person

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Paris
SEGMENTS = {"rules": {"lyon": {"field": "city", "equals": "Lyon"}, "belgians": {"field": "country", "equals": "BE"}}}


def at(**delta: float) -> datetime:
    return T0 + timedelta(**delta)


PROMO_AT = {"segment": "lyon", "subject": "Spring offer", "at": T0.isoformat()}


def campaign_tenant(engine: Engine, campaigns_section: dict[str, Any] | None = None, **extra: Any) -> Tenant:
    extra.setdefault("segments", SEGMENTS)
    return make_tenant(engine, "shop", campaigns=campaigns_section or {}, **extra)


def add_contact(engine: Engine, tenant: Tenant, email: str, consent: bool | None = True, when: datetime | None = None,
                **fields: Any) -> None:  # fmt: skip
    fields.setdefault("city", "Lyon")
    with engine.begin() as conn:
        ingest(conn, tenant, identify(when or at(days=-2), person(email, consent, **fields)), when or at(days=-2))


def refresh(engine: Engine, tenant: Tenant, now: datetime) -> None:
    with engine.begin() as conn:
        refresh_segments(conn, tenant, now)


def step(engine: Engine, tenant: Tenant, now: datetime) -> CampaignReport:
    """What the periodic job does at ``now``: passes until no batch is full."""
    total = CampaignReport()
    for _ in range(100):
        with engine.begin() as conn:
            report = run_due(conn, tenant, now)
        total.sends.extend(report.sends)
        total.outcomes.update(report.outcomes)
        total.started.extend(report.started)
        total.finished.extend(report.finished)
        if not report.more:
            break
    return total


def clock(engine: Engine, tenant: Tenant, start: datetime, until: datetime) -> list[datetime]:
    """Drive the campaigns with a simulated clock from ``start`` to ``until``; return the times it stopped at."""
    now, stops = start, []
    step(engine, tenant, now)  # as the periodic job does every minute: the tenant file's campaigns brought in
    while True:
        with engine.connect() as conn:
            due = next_due(conn, tenant, now)
        if due is None or due > until:
            return stops
        now = max(due, now)
        stops.append(now)
        step(engine, tenant, now)


def outbox(engine: Engine, tenant: Tenant, flow: str | None = None) -> list[Any]:
    with engine.connect() as conn:
        query = select(messages).where(messages.c.tenant_id == tenant.id).order_by(messages.c.id)
        if flow:
            query = query.where(messages.c.flow == flow)
        return list(conn.execute(query))


def recipients(engine: Engine, tenant: Tenant, name: str) -> list[Any]:
    with engine.connect() as conn:
        campaign_id = conn.execute(
            select(campaigns.c.id).where(campaigns.c.tenant_id == tenant.id, campaigns.c.name == name)
        ).scalar_one()
        return recipients_of(conn, tenant.id, campaign_id)


def state(engine: Engine, tenant: Tenant, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(campaigns.c.state).where(campaigns.c.tenant_id == tenant.id, campaigns.c.name == name)
        ).scalar_one()
