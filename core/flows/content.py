"""What a message shows: its products and the context its template needs.

``products`` is always a list of product ids (empty when none); the rest of
the context depends on the flow: ``cart_id`` and ``recovery_url`` for a cart,
``order_id`` for an order, ``predicted_runout`` for a replenishment, and
``coupon`` when the step carries one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core import normalize
from core.flows.batch import Batch, ContactFacts, RunRow
from core.flows.model import Definition, Send
from core.recommendations import cross_sell

#: Contents that are pointless without products.
NEEDS_PRODUCTS = frozenset({"cart", "cross_sell", "replenishment", "recommendations"})


def _unique(ids: list[str | None]) -> list[str]:
    return [p for p in dict.fromkeys(ids) if p]


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The message's context: ``products`` plus what the flow's template needs."""
    context: dict[str, Any] = {"flow": definition.name, "step": step.number, "products": []}
    if step.coupon:
        context["coupon"] = step.coupon
    if step.content == "cart":
        cart = batch.carts.get(run.context.get("cart"))
        if cart is not None:
            items = batch.cart_items.get(cart.id, [])
            context.update(
                products=_unique([item.product_id for item in items]),
                cart_id=cart.external_id,
                recovery_url=cart.recovery_url,
                total=normalize.money_str(cart.total),
                currency=cart.currency,
            )
    elif step.content == "cross_sell":
        order = batch.orders.get(run.context.get("order"))
        if order is not None:
            items = batch.order_items.get(order.id, [])
            bought = _unique([item.product_id for item in items])
            categories = {c for item in items for c in (item.categories or ())}
            brands = {item.brand for item in items if item.brand}
            limit = batch.flows.settings.cross_sell.products
            history = batch.histories.get(contact.id, set())
            context.update(
                products=cross_sell(batch.stats, bought, history, limit, categories, brands),
                order_id=order.external_id,
            )
    elif step.content == "replenishment":
        order = batch.orders.get(run.context.get("order"))
        product = run.context.get("product")
        interval = batch.intervals.get(product) if product else None
        if order is not None and product and interval is not None:
            context.update(
                products=[product],
                order_id=order.external_id,
                predicted_runout=normalize.isoformat(order.created_at + timedelta(days=interval)),
            )
    elif step.content == "recommendations":
        history = batch.histories.get(contact.id, set())
        recent = sorted(history)
        context["products"] = cross_sell(batch.stats, recent, history, 4)
    return context
