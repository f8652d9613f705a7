"""``cross_sell``: 7 days after an order becomes paid or completed, up to 4 products bought together with it.

One run per order; the order cancelled, refunded or failed meanwhile ends it.
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
from core.flows.store.runs import end_runs
from core.model import REVENUE_STATUSES, Channel
from core.recommendations import cross_sell

NAME = "cross_sell"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    after_days: int = 7
    products: int = 4


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "after_days", "products"), path)
    out = values.common(given, path)
    if "after_days" in given:
        out["after_days"] = values.integer(given["after_days"], f"{path}.after_days", 1, 90)
    if "products" in given:
        out["products"] = values.integer(given["products"], f"{path}.products", 1, 12)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="paid order"),
        steps=(
            Wait(delay=timedelta(days=settings.after_days), from_anchor=True),
            Send(
                number=1,
                channel=settings.channel,
                template=f"{NAME}/1",
                content="cross_sell",
                expires=timedelta(days=7),
            ),
        ),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=settings.after_days + 7),
        builtin=True,
    )


def react(r: Reaction) -> None:
    order_id = r.ingested.order_id
    if order_id is None:
        return
    if "order_status" in r.effects:
        order = r.order()
        if order is not None and order.status not in REVENUE_STATUSES and order.status != "pending":
            # a cancelled, refunded or failed order ends the run it started
            end_runs(r.conn, r.tenant.id, RunState.EXITED, "order_cancelled", r.now, flow=NAME, key=f"order:{order_id}")
    if "order_paid" in r.effects:
        order = r.order()
        if order is None or order.contact_id is None or order.status not in REVENUE_STATUSES:
            return
        if not r.reachable(order.contact_id):
            return
        paid_at = order.paid_at or order.created_at
        definition = r.flows.by_name[NAME]
        begin(r.conn, r.tenant, definition, order.contact_id, f"order:{order.id}", paid_at, r.now, anchor=paid_at,
              context={"order": order.id})  # fmt: skip


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    order = batch.orders.get(run.context.get("order"))
    if order is None or order.status not in REVENUE_STATUSES:
        return "order_cancelled"
    return None


def _unique(ids: list[str | None]) -> list[str]:
    return [p for p in dict.fromkeys(ids) if p]


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """Products bought together with the order's (never one the contact already has)."""
    order = batch.orders.get(run.context.get("order"))
    if order is None:
        return {"products": []}
    items = batch.order_items.get(order.id, [])
    bought = _unique([item.product_id for item in items])
    categories = {c for item in items for c in (item.categories or ())}
    brands = {item.brand for item in items if item.brand}
    limit = batch.flows.settings.of(NAME).products
    history = batch.histories.get(contact.id, set())
    return {
        "products": cross_sell(batch.stats, bought, history, limit, categories, brands),
        "order_id": order.external_id,
    }


FLOW = BuiltinFlow(
    name=NAME,
    priority=40,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    exit_reason=exit_reason,
    contents={"cross_sell": content},
)
