"""What a message shows: its products and the context its template needs.

``products`` is always a list of product ids (empty when none). A send step
names its content: ``none``, ``recommendations`` (for the contact's
purchases), or one a built-in flow provides (``cart``, ``cross_sell``,
``replenishment``: see each flow's module). ``coupon`` is added when the step
carries one.
"""

from __future__ import annotations

from typing import Any

from core.flows.model import Definition, Send
from core.flows.plugin import Content
from core.flows.registry import flow_contents
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.recommendations import cross_sell


def _none(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    return {"products": []}


def _recommendations(
    batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts
) -> dict[str, Any]:
    history = batch.histories.get(contact.id, set())
    return {"products": cross_sell(batch.stats, sorted(history), history, 4)}


#: The contents any flow (the tenant's own included) may use.
GENERIC: dict[str, Content] = {"none": _none, "recommendations": _recommendations}
CONTENTS: dict[str, Content] = {**GENERIC, **flow_contents()}
#: Contents that are pointless without products.
NEEDS_PRODUCTS = frozenset(CONTENTS) - {"none"}


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The message's context: ``products`` plus what the flow's template needs."""
    context: dict[str, Any] = {"flow": definition.name, "step": step.number, "products": []}
    if step.coupon:
        context["coupon"] = step.coupon
    context.update(CONTENTS[step.content](batch, definition, run, step, contact))
    return context
