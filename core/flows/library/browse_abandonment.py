"""``browse_abandonment``: products viewed, then no cart and no order within a few hours (4 by default).

Shows the products viewed and similar ones (``viewed`` content). The timing
counts from the contact's latest view: each new view moves it on. At most one
run per contact and week (``every_days``, 7). A cart update or an order after
the first view ends the run (an abandoned cart is the stronger signal, and a
higher priority). Only known contacts (an email or a phone) are followed; a
visitor who becomes known has their views of the last hours followed from
then on. Switched off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.flows import values
from core.flows.model import Definition, Reentry, RunState, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, Reaction
from core.flows.starting import begin
from core.flows.store import queries
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.lifecycle import carted_or_ordered_since, last_view_at, viewed_products
from core.flows.store.runs import end_runs, last_start, waiting_runs, wake_runs
from core.model import Channel

NAME = "browse_abandonment"


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    channel: Channel = Channel.EMAIL
    after_hours: float = 4
    every_days: int = 7


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "after_hours", "every_days"), path)
    out = values.common(given, path)
    if "after_hours" in given:
        out["after_hours"] = values.number(given["after_hours"], f"{path}.after_hours", 0.5, 72)
    if "every_days" in given:
        out["every_days"] = values.integer(given["every_days"], f"{path}.every_days", 1, 90)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="products viewed, no cart"),
        steps=(
            Wait(delay=timedelta(hours=settings.after_hours), from_anchor=True),
            Send(
                number=1, channel=settings.channel, template=f"{NAME}/1", content="viewed", expires=timedelta(hours=24)
            ),  # fmt: skip
        ),
        reentry=Reentry.EVERY_DAYS,
        reentry_days=settings.every_days,
        horizon=timedelta(hours=settings.after_hours + 24),
        builtin=True,
    )


def _start(r: Reaction, first_view: datetime) -> None:
    conn, tid = r.conn, r.tenant.id
    settings = r.flows.settings.of(NAME)
    waiting = waiting_runs(conn, tid, r.contact_id, NAME)
    if waiting:
        for row in waiting:  # a new view: the engine recomputes the timing from the latest view
            wake_runs(conn, tid, NAME, row.trigger_key, r.now)
        return
    last = last_start(conn, tid, r.contact_id, NAME)
    if last is not None and first_view < last + timedelta(days=settings.every_days):
        return
    if not r.reachable(r.contact_id):
        return
    key = f"browse:{r.contact_id}:{int(first_view.timestamp())}"
    begin(conn, r.tenant, r.flows.by_name[NAME], r.contact_id, key, first_view, r.now)


def react(r: Reaction) -> None:
    if "cart_changed" in r.effects or "order_created" in r.effects:
        end_runs(r.conn, r.tenant.id, RunState.EXITED, "carted" if "cart_changed" in r.effects else "ordered",
                 r.now, flow=NAME, contact_id=r.contact_id)  # fmt: skip
        return
    if r.name == "product_viewed":
        _start(r, r.event.timestamp)
    elif "contact_merged" in r.effects or ("profile" in r.effects and (r.event.contact.email or r.event.contact.phone)):
        # a visitor just became known: the views of the last hours may now be followed
        hours = r.flows.settings.of(NAME).after_hours
        views = viewed_products(r.conn, r.tenant.id, [r.contact_id], r.now - timedelta(hours=hours + 24))
        if views.get(r.contact_id):
            _start(r, min(at for _, at in views[r.contact_id]))


def _latest_views(batch: Batch) -> dict[int, datetime | None]:
    runs = [run for run in batch.runs if run.flow == NAME]
    return {run.contact_id: last_view_at(batch.conn, batch.tenant.id, run.contact_id, run.trigger_at) for run in runs}


def _carted(batch: Batch) -> set[int]:
    runs = [run for run in batch.runs if run.flow == NAME]
    if not runs:
        return set()
    since = min(run.trigger_at for run in runs)
    return carted_or_ordered_since(batch.conn, batch.tenant.id, [run.contact_id for run in runs], since)


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    if contact.id in batch.memo(f"{NAME}.carted", _carted) and queries.did_since(
        batch.conn, batch.tenant.id, contact.id, "cart_updated", run.trigger_at
    ):
        return "carted"
    if contact.id in batch.memo(f"{NAME}.carted", _carted) and queries.did_since(
        batch.conn, batch.tenant.id, contact.id, "order_placed", run.trigger_at
    ):
        return "ordered"
    return None


def anchor(batch: Batch, run: RunRow, contact: ContactFacts) -> tuple[datetime | None, str]:
    latest = batch.memo(f"{NAME}.views", _latest_views).get(contact.id)
    return max(latest or run.trigger_at, run.trigger_at), ""


FLOW = BuiltinFlow(
    name=NAME,
    priority=12,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    exit_reason=exit_reason,
    anchor=anchor,
)
