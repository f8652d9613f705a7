"""``back_in_stock``: one message when a product a contact asked about (or carted) is in stock again.

A contact asks with a ``back_in_stock_requested`` event (``product_id``: the
storefront tracker's "notify me" form, or the Event API), or puts a product
that is out of stock in a cart. The run waits while the product is out of
stock; a ``product_updated`` with ``in_stock: true`` wakes it and the message
goes (the product, and similar ones). A product still out of stock after
``max_wait_days`` (90), or bought meanwhile, ends the run. One run per
contact and product. The message is marketing: it needs the contact's
consent like any other. Switched off by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from core.flows import values
from core.flows.model import Definition, Reentry, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow, Reaction
from core.flows.starting import begin
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.lifecycle import bought_since, product_stock, waiting_keys
from core.flows.store.runs import wake_runs
from core.model import Channel
from core.recommendations import cross_sell

NAME = "back_in_stock"
REQUEST = "back_in_stock_requested"


@dataclass(frozen=True)
class Settings:
    enabled: bool = False
    channel: Channel = Channel.EMAIL
    max_wait_days: int = 90
    from_carts: bool = True


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "max_wait_days", "from_carts"), path)
    out = values.common(given, path)
    if "max_wait_days" in given:
        out["max_wait_days"] = values.integer(given["max_wait_days"], f"{path}.max_wait_days", 1, 365)
    if "from_carts" in given:
        out["from_carts"] = values.boolean(given["from_carts"], f"{path}.from_carts")
    return Settings(**out)


def define(settings: Settings) -> Definition:
    # the anchor is the time the product came back (or the end of the wait while it is still out of stock)
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.SHOP, fact="product back in stock"),
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=settings.channel,
                template=f"{NAME}/1",
                content="back_in_stock",
                expires=timedelta(days=3),
            ),  # fmt: skip
        ),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=settings.max_wait_days),
        builtin=True,
    )


def _key(product_id: str, contact_id: int) -> str:
    return f"stock:{product_id}:{contact_id}"


def _ask(r: Reaction, product_id: str, requested: bool) -> None:
    stock = product_stock(r.conn, r.tenant.id, [product_id]).get(product_id)
    if stock is not None and stock[0] is not False:
        return  # in stock (or unknown stock): nothing to wait for
    if not r.reachable(r.contact_id):
        return
    context = {"product": product_id, "requested": requested}
    begin(r.conn, r.tenant, r.flows.by_name[NAME], r.contact_id, _key(product_id, r.contact_id), r.event.timestamp,
          r.now, context=context)  # fmt: skip


def restocked(r: Reaction) -> None:
    """A product stored as in stock wakes the runs waiting for it (the engine checks the stock again)."""
    if r.name == "product_updated" and r.event.properties.get("in_stock") is True:
        product_id = str(r.event.properties.get("product_id"))
        for key in waiting_keys(r.conn, r.tenant.id, NAME, f"stock:{product_id}:"):
            wake_runs(r.conn, r.tenant.id, NAME, key, r.now)


def react(r: Reaction) -> None:
    if r.name == REQUEST:
        product_id = r.event.properties.get("product_id")
        if product_id:
            _ask(r, str(product_id), requested=True)
    elif "cart_changed" in r.effects and r.flows.settings.of(NAME).from_carts:
        for item in r.event.properties.get("items") or []:
            if isinstance(item, dict) and item.get("product_id"):
                _ask(r, str(item["product_id"]), requested=False)


def _stock(batch: Batch) -> dict[str, tuple[bool | None, Any]]:
    products = [run.context.get("product") for run in batch.runs if run.flow == NAME]
    return product_stock(batch.conn, batch.tenant.id, [p for p in products if p])


def exit_reason(batch: Batch, run: RunRow, contact: ContactFacts) -> str | None:
    product = run.context.get("product")
    if not product:
        return "product_gone"
    if bought_since(batch.conn, batch.tenant.id, contact.id, product, run.trigger_at):
        return "bought"
    in_stock, _ = batch.memo(NAME, _stock).get(product, (None, None))
    wait = timedelta(days=batch.flows.settings.of(NAME).max_wait_days)
    if in_stock is not True and batch.now >= run.trigger_at + wait:
        return "still_out_of_stock"
    return None


def anchor(batch: Batch, run: RunRow, contact: ContactFacts) -> tuple[datetime | None, str]:
    in_stock, updated_at = batch.memo(NAME, _stock).get(run.context.get("product"), (None, None))
    if in_stock is True:
        return max(updated_at or batch.now, run.trigger_at), ""
    # still out of stock: look again at the end of the wait (a restock wakes the run before)
    return run.trigger_at + timedelta(days=batch.flows.settings.of(NAME).max_wait_days), ""


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The product back in stock, then up to three similar ones."""
    product = run.context.get("product")
    if not product:
        return {"products": []}
    history = batch.histories.get(contact.id, set())
    similar = [p for p in cross_sell(batch.stats, [product], history, 3) if p != product]
    return {"products": [product, *similar[:3]], "back_in_stock": product}


FLOW = BuiltinFlow(
    name=NAME,
    priority=15,
    settings=Settings,
    parse=parse,
    define=define,
    react=react,
    react_catalogue=restocked,
    exit_reason=exit_reason,
    anchor=anchor,
    contents={"back_in_stock": content},
)
