"""What a message shows: its products and the context its template needs.

``products`` is always a list of product ids (empty when none). A send step
names its content: ``none``, ``recommendations`` (for the contact's
purchases), ``viewed`` (what the contact viewed, then similar products), or
one a built-in flow provides (``cart``, ``cross_sell``, ``replenishment``...:
see each flow's module). ``coupon`` is added when the step carries one.

Nobody is left without products: when the contact's purchases and views give
too few, the list is filled with best sellers of the categories they viewed
lately (trending: the last 30 days' sales), then the shop's best sellers,
then its new arrivals, never a product they bought or one out of stock. A
prospect therefore gets the shop's best sellers rather than no message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from core.flows.model import Definition, Send
from core.flows.plugin import Content
from core.flows.registry import flow_contents, productless_contents
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.lifecycle import new_arrivals, viewed_products
from core.recommendations import cross_sell
from core.store.recommendations import best_sellers

#: How many products a message shows by default.
PRODUCTS = 4
#: Views older than this say nothing about what a contact wants now.
VIEWS_DAYS = 30
TRENDING_DAYS = 30
NEW_ARRIVALS = 24


def _views(batch: Batch) -> dict[int, list[tuple[str, Any]]]:
    return viewed_products(batch.conn, batch.tenant.id, sorted(batch.contacts), batch.now - timedelta(days=VIEWS_DAYS))


def _trending(batch: Batch) -> dict[str, int]:
    return best_sellers(batch.conn, batch.tenant.id, batch.now, TRENDING_DAYS)


def _arrivals(batch: Batch) -> list[str]:
    return new_arrivals(batch.conn, batch.tenant.id, NEW_ARRIVALS)


def views_of(batch: Batch, contact: ContactFacts, since: Any = None) -> list[str]:
    """The products the contact viewed lately (after ``since`` when given), latest first."""
    views = batch.memo("content.views", _views).get(contact.id, [])
    return [product for product, at in views if since is None or at >= since]


def fill(batch: Batch, contact: ContactFacts, chosen: list[str], limit: int, exclude: Iterable[str] = ()) -> list[str]:
    """``chosen`` completed up to ``limit`` with trending products of the viewed categories, best sellers,
    then new arrivals (never one the contact bought, one excluded, or one out of stock)."""
    stats = batch.stats
    owned = batch.histories.get(contact.id, set()) | set(exclude) | set(chosen)
    result = list(chosen)

    def take(candidates: Iterable[str], categories: set[str] | None = None) -> None:
        for product in candidates:
            if len(result) >= limit:
                return
            info = stats.catalogue.get(product)
            if product in owned or info is None or info.in_stock is False:
                continue
            if categories is not None and not categories.intersection(info.categories):
                continue
            result.append(product)
            owned.add(product)

    viewed = views_of(batch, contact)
    categories = {c for p in viewed if (info := stats.catalogue.get(p)) is not None for c in info.categories}
    if categories:
        trending = batch.memo("content.trending", _trending)
        take(sorted(trending, key=lambda p: (-trending[p], p)), categories)
    take(sorted(stats.sales, key=lambda p: (-stats.sales[p], p)))
    take(batch.memo("content.arrivals", _arrivals))
    return result


def _none(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    return {"products": []}


def _recommendations(
    batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts
) -> dict[str, Any]:
    history = batch.histories.get(contact.id, set())
    chosen = cross_sell(batch.stats, sorted(history), history, PRODUCTS)
    return {"products": fill(batch, contact, chosen, PRODUCTS)}


def _viewed(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The products viewed since the run's trigger (up to 3, in stock), then similar ones.

    ``viewed_count`` says how many of ``products`` were viewed: the template shows them apart.
    """
    stats = batch.stats
    history = batch.histories.get(contact.id, set())
    seen = views_of(batch, contact, run.trigger_at)
    viewed = [p for p in seen if (info := stats.catalogue.get(p)) is not None and info.in_stock is not False][:3]
    similar = cross_sell(stats, viewed, history | set(seen), PRODUCTS + len(viewed))
    similar = [p for p in similar if p not in viewed][:PRODUCTS]
    products = fill(batch, contact, viewed + similar, len(viewed) + PRODUCTS, exclude=seen)
    return {"products": products, "viewed_count": len(viewed), "viewed": viewed}


#: The contents any flow (the tenant's own included) may use.
GENERIC: dict[str, Content] = {"none": _none, "recommendations": _recommendations, "viewed": _viewed}
CONTENTS: dict[str, Content] = {**GENERIC, **flow_contents()}
#: Contents that are pointless without products.
NEEDS_PRODUCTS = frozenset(CONTENTS) - {"none"} - productless_contents()


def content(batch: Batch, definition: Definition, run: RunRow, step: Send, contact: ContactFacts) -> dict[str, Any]:
    """The message's context: ``products`` plus what the flow's template needs."""
    context: dict[str, Any] = {"flow": definition.name, "step": step.number, "products": []}
    if step.coupon:
        context["coupon"] = step.coupon
    context.update(CONTENTS[step.content](batch, definition, run, step, contact))
    return context
