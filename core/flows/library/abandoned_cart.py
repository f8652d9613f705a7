"""``abandoned_cart``: a cart with items, a known contact and no order.

A message after each delay (1 h, 24 h, 72 h by default) counted from the
cart's last update; the last can carry a coupon. One run per cart: an update
of the cart restarts its timing, an order of the contact (placed after the
cart's last update), the cart emptied or converted ends it. A contact who
becomes known (an email typed at checkout, a merge) has their open carts
followed from then on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core import normalize
from core.flows import values
from core.flows.model import Definition, Reentry, RunState, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, Reaction
from core.flows.starting import begin
from core.flows.store import queries
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.runs import end_runs, wake_runs
from core.model import Channel

NAME = "abandoned_cart"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    delays_hours: tuple[float, ...] = (1, 24, 72)
    coupon: str | None = None  # carried by the last step


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "delays_hours", "coupon"), path)
    out = values.common(given, path)
    if "delays_hours" in given:
        out["delays_hours"] = values.delays(
            given["delays_hours"], f"{path}.delays_hours", 0.25, 24 * 30, "hours", "[1, 24, 72]"
        )
    if "coupon" in given:
        out["coupon"] = values.text(given["coupon"], f"{path}.coupon", 60)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    delays = [timedelta(hours=h) for h in settings.delays_hours]
    steps: list[Wait | Send] = []
    last_expiry = timedelta(days=2)
    for index, delay in enumerate(delays):
        last = index == len(delays) - 1
        steps.append(Wait(delay=delay, from_anchor=True))
        steps.append(
            Send(
                number=index + 1,
                channel=settings.channel,
                template=f"{NAME}/{index + 1}",
                content="cart",
                coupon=settings.coupon if last else None,
                # a step held back is still worth sending until the next one is due
                expires=last_expiry if last else delays[index + 1] - delay,
            )
        )
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="cart"),
        steps=tuple(steps),
        reentry=Reentry.PER_OBJECT,
        horizon=delays[-1] + last_expiry,
        builtin=True,
    )


# -- triggers ---------------------------------------------------------------------------------


def start_cart_run(r: Reaction, cart_row_id: int, restart: bool = True) -> None:
    """Start the abandoned-cart run of a cart, or (``restart``) restart its timing after an update."""
    conn, tenant, now = r.conn, r.tenant, r.now
    definition = r.flows.by_name[NAME]
    cart = queries.cart_for_run(conn, tenant.id, cart_row_id)
    if cart is None or cart.contact_id is None or cart.item_count <= 0 or cart.converted_order_id is not None:
        return
    key = f"cart:{cart.id}"
    if not r.reachable(cart.contact_id):
        return
    created = begin(conn, tenant, definition, cart.contact_id, key, cart.updated_at, now, context={"cart": cart.id})
    if created is None and restart:
        # a run exists: the engine recomputes its timing from the cart's new last update
        wake_runs(conn, tenant.id, NAME, key, now)


def react(r: Reaction) -> None:
    conn, tid, now, effects = r.conn, r.tenant.id, r.now, r.effects
    definition = r.flows.by_name[NAME]
    # exit goals first: an order ends the contact's abandoned carts at once
    if "order_created" in effects and r.ingested.order_id is not None:
        placed = r.order()
        if placed is not None:  # any order of the contact, placed after the cart's trigger (not an old one loaded late)
            end_runs(conn, tid, RunState.EXITED, "ordered", now, flow=NAME, contact_id=r.contact_id,
                     triggered_by=placed.created_at)  # fmt: skip
    if "cart_emptied" in effects and r.ingested.cart_id is not None:
        end_runs(conn, tid, RunState.EXITED, "cart_emptied", now, flow=NAME, key=f"cart:{r.ingested.cart_id}")
    # then the trigger
    if "cart_changed" in effects and "cart_emptied" not in effects and r.ingested.cart_id is not None:
        start_cart_run(r, r.ingested.cart_id)
    elif "contact_merged" in effects or ("profile" in effects and (r.event.contact.email or r.event.contact.phone)):
        # the contact just became known: their open carts may now be followed
        for cart_id in queries.open_cart_ids(conn, tid, r.contact_id, now - definition.horizon):
            start_cart_run(r, cart_id, restart=False)


# -- evaluation ---------------------------------------------------------------------------------


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    cart = batch.carts.get(run.context.get("cart"))
    if cart is None:
        return "cart_gone"
    if cart.item_count <= 0:
        return "cart_emptied"
    if cart.converted_order_id is not None:
        return "converted"
    last_order = batch.last_order_at.get(contact.id)
    if last_order is not None and last_order >= run.trigger_at:
        return "ordered"
    return None


def anchor(batch: Batch, run: RunRow, contact: ContactFacts) -> tuple[datetime | None, str]:
    cart = batch.carts.get(run.context.get("cart"))
    return (cart.updated_at if cart is not None else None), "cart_gone"


def _unique(ids: list[str | None]) -> list[str]:
    return [p for p in dict.fromkeys(ids) if p]


def cart_content(
    batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts
) -> dict[str, Any]:
    """The cart's items, its recovery link and total."""
    cart = batch.carts.get(run.context.get("cart"))
    if cart is None:
        return {"products": []}
    items = batch.cart_items.get(cart.id, [])
    return {
        "products": _unique([item.product_id for item in items]),
        "cart_id": cart.external_id,
        "recovery_url": cart.recovery_url,
        "total": normalize.money_str(cart.total),
        "currency": cart.currency,
    }


FLOW = BuiltinFlow(
    name=NAME,
    priority=10,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    exit_reason=exit_reason,
    anchor=anchor,
    contents={"cart": cart_content},
)
