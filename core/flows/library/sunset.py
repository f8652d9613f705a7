"""``sunset``: a contact with no open, click, visit or order for ``inactive_days`` (180) is asked to stay.

A daily scan finds the contacts opted in to email whose last engagement (an
email opened or clicked, a page or product viewed, a cart, an order, a survey
answer) is older than ``inactive_days`` and who have had no sunset run since.
They get a re-permission message; any engagement within ``grace_days`` (14)
ends the run (they stay subscribed); otherwise they are unsubscribed from
marketing emails, with the proof kept in ``consents`` (source ``relance``,
detail ``sunset: ...``). Switched off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.flows import values
from core.flows.config import TenantFlows
from core.flows.model import Action, Condition, Definition, EventMatch, Reentry, Send, Test, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, PeriodicWork
from core.flows.starting import begin
from core.flows.store.lifecycle import ENGAGEMENT, quiet_contacts
from core.model import Channel
from core.store.tenants import Tenant

NAME = "sunset"
SCAN_LIMIT = 5000


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    channel: Channel = Channel.EMAIL  # a re-permission asks for email consent: email only
    inactive_days: int = 180
    grace_days: int = 14


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "inactive_days", "grace_days"), path)
    out: dict[str, Any] = {}
    if "enabled" in given:
        out["enabled"] = values.boolean(given["enabled"], f"{path}.enabled")
    if "inactive_days" in given:
        out["inactive_days"] = values.integer(given["inactive_days"], f"{path}.inactive_days", 30, 3650)
    if "grace_days" in given:
        out["grace_days"] = values.integer(given["grace_days"], f"{path}.grace_days", 1, 90)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    first, *others = ENGAGEMENT
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="no engagement for a long time"),
        steps=(
            Send(number=1, channel=Channel.EMAIL, template=f"{NAME}/1", expires=timedelta(days=7)),
            Wait(delay=timedelta(days=settings.grace_days)),
            Condition(Test("did", first, value=tuple(others)), then="end", otherwise="next"),
            Action("unsubscribe", "email", NAME),
        ),
        # any engagement while the run waits ends it: the contact stays subscribed
        exits=tuple(EventMatch(name) for name in ENGAGEMENT),
        reentry=Reentry.EVERY_DAYS,
        reentry_days=settings.inactive_days,
        horizon=timedelta(days=2),
        builtin=True,
    )


def scan(
    conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, lookahead: timedelta = timedelta(0)
) -> int:
    """Start a run for each contact quiet for ``inactive_days``; return how many started."""
    if NAME not in flows.by_name:
        return 0
    settings = flows.settings.of(NAME)
    since = now - timedelta(days=settings.inactive_days)
    definition = flows.by_name[NAME]
    started = 0
    for contact_id in quiet_contacts(conn, tenant.id, NAME, since, SCAN_LIMIT):
        key = f"sunset:{contact_id}:{now.date().isoformat()}"
        if begin(conn, tenant, definition, contact_id, key, now, now) is not None:
            started += 1
    return started


FLOW = BuiltinFlow(
    name=NAME,
    priority=60,
    settings=Settings,
    parse=parse,
    define=define,
    periodic=(PeriodicWork(NAME, timedelta(days=1), scan, idle_every=timedelta(days=1)),),
)
