"""``welcome``: a short series for a new subscriber (now, +2 days, +5 days) with the shop's best sellers.

Starts when a contact subscribes to the newsletter with email consent: a
signup from the shop or the Event API at once, a storefront signup (double
opt-in) when the confirmation link is clicked (the confirmation is a
``newsletter_subscribed`` event with consent; the unconfirmed signup starts
nothing, so it is never dropped for consent). Once per contact. The first
order ends it. Switched on by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.flows import values
from core.flows.model import Definition, Reentry, RunState, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, Reaction
from core.flows.starting import begin
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.lifecycle import first_order_after
from core.flows.store.runs import end_runs
from core.messages.store.recipients import get_identity
from core.model import Channel

NAME = "welcome"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    delays_days: tuple[float, ...] = (0, 2, 5)
    coupon: str | None = None  # shown in the first and last messages


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "delays_days", "coupon"), path)
    out = values.common(given, path)
    if "delays_days" in given:
        out["delays_days"] = values.delays(given["delays_days"], f"{path}.delays_days", 0, 60, "days", "[0, 2, 5]")
    if "coupon" in given:
        out["coupon"] = values.text(given["coupon"], f"{path}.coupon", 60)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    steps: list[Wait | Send] = []
    delays = [timedelta(days=d) for d in settings.delays_days]
    for index, delay in enumerate(delays):
        last = index == len(delays) - 1
        steps.append(Wait(delay=delay, from_anchor=True))
        steps.append(
            Send(
                number=index + 1,
                channel=settings.channel,
                template=f"{NAME}/{index + 1}",
                content="recommendations",
                coupon=settings.coupon if index == 0 or last else None,
                expires=timedelta(days=2) if last else delays[index + 1] - delay,
            )
        )
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="newsletter subscription (confirmed)"),
        steps=tuple(steps),
        reentry=Reentry.ONCE,
        horizon=timedelta(days=2),
        builtin=True,
    )


def react(r: Reaction) -> None:
    if "order_created" in r.effects:
        end_runs(r.conn, r.tenant.id, RunState.EXITED, "ordered", r.now, flow=NAME, contact_id=r.contact_id)
        return
    if r.name != "newsletter_subscribed":
        return
    identity = get_identity(r.conn, r.tenant.id, r.contact_id)
    if identity is None or identity.email_consent is not True or not identity.email:
        return  # a storefront signup waits for its confirmation (double opt-in)
    if not r.reachable(r.contact_id):
        return
    if first_order_after(r.conn, r.tenant.id, [r.contact_id]):
        return  # a customer already: welcome is for newcomers
    definition = r.flows.by_name[NAME]
    begin(r.conn, r.tenant, definition, r.contact_id, f"welcome:{r.contact_id}", r.event.timestamp, r.now)


def _orders(batch: Batch) -> dict[int, Any]:
    return first_order_after(batch.conn, batch.tenant.id, [run.contact_id for run in batch.runs if run.flow == NAME])


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    placed = batch.memo(NAME, _orders).get(contact.id)
    return "ordered" if placed is not None and placed >= run.trigger_at else None


FLOW = BuiltinFlow(
    name=NAME,
    priority=25,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    exit_reason=exit_reason,
)
