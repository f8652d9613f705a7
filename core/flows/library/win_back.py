"""``win_back``: a customer whose predicted activity dropped gets an incentive to come back.

Starts when the contact enters the ``at_risk`` segment (``segment``: any
segment's name), and, when ``p_active_below`` is set, for customers whose
predicted probability of still being active (``contact_metrics.p_active``)
falls below it (a daily scan). Two messages by default: the offer (with the
coupon: a fixed code, or a unique one when the shop grants write access),
then a reminder ``reminder_days`` later. Any order ends it. At most one run
per contact every ``every_days`` (90). Switched off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from core.flows import values
from core.flows.config import TenantFlows
from core.flows.model import Definition, Reentry, RunState, Send, Trigger, TriggerKind, UniqueCoupon, Wait
from core.flows.plugin import BuiltinFlow, PeriodicWork, Reaction
from core.flows.starting import begin
from core.flows.store import queries
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.lifecycle import fading_customers, first_order_after
from core.flows.store.runs import end_runs, last_start
from core.model import Channel
from core.store.tenants import Tenant

NAME = "win_back"
SCAN_LIMIT = 5000


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    channel: Channel = Channel.EMAIL
    segment: str | None = "at_risk"
    p_active_below: float | None = None
    coupon: str | None = None
    unique_coupon_percent: int | None = None  # a code of its own, when the shop grants write access
    coupon_days: int = 14
    reminder_days: int = 7
    every_days: int = 90


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    keys = ("enabled", "channel", "segment", "p_active_below", "coupon", "unique_coupon_percent", "coupon_days",
            "reminder_days", "every_days")  # fmt: skip
    values.reject_unknown(given, keys, path)
    out = values.common(given, path)
    if "segment" in given:
        out["segment"] = values.text(given["segment"], f"{path}.segment", 100)
    if given.get("p_active_below") is not None:
        out["p_active_below"] = values.number(given["p_active_below"], f"{path}.p_active_below", 0.01, 0.99)
    if "coupon" in given:
        out["coupon"] = values.text(given["coupon"], f"{path}.coupon", 60)
    if given.get("unique_coupon_percent") is not None:
        out["unique_coupon_percent"] = values.integer(
            given["unique_coupon_percent"], f"{path}.unique_coupon_percent", 1, 100
        )
    for key, high in (("coupon_days", 365), ("reminder_days", 60), ("every_days", 3650)):
        if key in given:
            out[key] = values.integer(given[key], f"{path}.{key}", 1, high)
    settings = Settings(**out)
    if settings.segment is None and settings.p_active_below is None:
        raise values.fail(path, "needs a segment (such as at_risk) or p_active_below (such as 0.3)")
    return settings


def define(settings: Settings) -> Definition:
    unique = (
        UniqueCoupon(percent=Decimal(settings.unique_coupon_percent), days=settings.coupon_days)
        if settings.unique_coupon_percent
        else None
    )
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="activity dropped"),
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=settings.channel,
                template=f"{NAME}/1",
                content="recommendations",
                coupon=settings.coupon,
                unique_coupon=unique,
                expires=timedelta(days=3),
            ),  # fmt: skip
            Wait(delay=timedelta(days=settings.reminder_days)),
            Send(
                number=2,
                channel=settings.channel,
                template=f"{NAME}/2",
                content="recommendations",
                coupon=settings.coupon,
                expires=timedelta(days=3),
            ),  # fmt: skip
        ),
        reentry=Reentry.EVERY_DAYS,
        reentry_days=settings.every_days,
        horizon=timedelta(days=2),
        builtin=True,
    )


def start(conn: Connection, tenant: Tenant, flows: TenantFlows, contact_id: int, at: datetime, now: datetime) -> bool:
    """Start a run for the contact unless one started less than ``every_days`` ago; True when started."""
    settings = flows.settings.of(NAME)
    last = last_start(conn, tenant.id, contact_id, NAME)
    if last is not None and at < last + timedelta(days=settings.every_days):
        return False
    if not queries.is_reachable(conn, tenant.id, contact_id):
        return False
    key = f"winback:{contact_id}:{int(at.timestamp())}"
    return begin(conn, tenant, flows.by_name[NAME], contact_id, key, at, now) is not None


def react(r: Reaction) -> None:
    if "order_created" in r.effects:
        end_runs(r.conn, r.tenant.id, RunState.EXITED, "ordered", r.now, flow=NAME, contact_id=r.contact_id)
        return
    segment = r.flows.settings.of(NAME).segment
    if segment and r.name == "segment_entered" and r.event.properties.get("segment") == segment:
        start(r.conn, r.tenant, r.flows, r.contact_id, r.event.timestamp, r.now)


def scan(
    conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, lookahead: timedelta = timedelta(0)
) -> int:
    """Start runs for the customers whose ``p_active`` fell below the threshold; return how many."""
    if NAME not in flows.by_name:
        return 0
    settings = flows.settings.of(NAME)
    if settings.p_active_below is None:
        return 0
    since = now - timedelta(days=settings.every_days)
    candidates = fading_customers(conn, tenant.id, NAME, settings.p_active_below, since, SCAN_LIMIT)
    return sum(start(conn, tenant, flows, contact_id, now, now) for contact_id in candidates)


def _orders(batch: Batch) -> dict[int, Any]:
    return first_order_after(batch.conn, batch.tenant.id, [run.contact_id for run in batch.runs if run.flow == NAME])


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    placed = batch.memo(NAME, _orders).get(contact.id)
    return "ordered" if placed is not None and placed >= run.trigger_at else None


FLOW = BuiltinFlow(
    name=NAME,
    priority=50,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    periodic=(PeriodicWork(NAME, timedelta(days=1), scan, idle_every=timedelta(days=1)),),
    exit_reason=exit_reason,
)
