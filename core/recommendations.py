"""Product recommendations from a tenant's orders: bought together, best sellers, repurchase intervals.

Pure: the statistics are loaded once by ``core.store.recommendations``
(paid and completed orders only); ``cross_sell`` takes them and a
customer's purchases.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: Orders older than this do not count for "bought together" and best sellers.
STATS_DAYS = 365
#: Consecutive purchases closer than this are one purchase (a second order to add a forgotten item).
MIN_GAP_DAYS = 1.0


@dataclass(frozen=True)
class ProductInfo:
    product_id: str
    brand: str | None
    categories: tuple[str, ...]
    in_stock: bool | None


@dataclass(frozen=True)
class Stats:
    """A tenant's co-purchase counts, sales counts and catalogue, loaded once for many recommendations."""

    pairs: Mapping[str, Mapping[str, int]]  # product -> other product -> orders holding both
    sales: Mapping[str, int]  # product -> orders holding it
    catalogue: Mapping[str, ProductInfo]


def cross_sell(
    stats: Stats,
    bought: Sequence[str],
    history: Iterable[str] = (),
    limit: int = 4,
    categories: Iterable[str] = (),
    brands: Iterable[str] = (),
) -> list[str]:
    """Up to ``limit`` products most often bought together with ``bought``.

    Never a product in ``history`` (what the customer ever bought) or out of
    stock, and only products of the catalogue. When there are too few, best
    sellers of the same categories or brands fill the list.
    """
    owned = set(history) | set(bought)

    def eligible(product: str) -> bool:
        info = stats.catalogue.get(product)
        return product not in owned and info is not None and info.in_stock is not False

    scores: Counter[str] = Counter()
    for product in bought:
        for other, count in stats.pairs.get(product, {}).items():
            scores[other] += count
    ranked = sorted((p for p in scores if eligible(p)), key=lambda p: (-scores[p], -stats.sales.get(p, 0), p))
    chosen = ranked[:limit]
    if len(chosen) >= limit:
        return chosen
    wanted_categories = set(categories)
    wanted_brands = set(brands)
    for product in bought:
        info = stats.catalogue.get(product)
        if info:
            wanted_categories.update(info.categories)
            if info.brand:
                wanted_brands.add(info.brand)
    for product in sorted(stats.sales, key=lambda p: (-stats.sales[p], p)):
        if len(chosen) >= limit:
            break
        info = stats.catalogue.get(product)
        if product in chosen or not eligible(product) or info is None:
            continue
        if wanted_categories.intersection(info.categories) or (info.brand and info.brand in wanted_brands):
            chosen.append(product)
    return chosen


def median_intervals(gaps: Mapping[str, list[float]], min_pairs: int) -> dict[str, float]:
    return {
        product: round(float(statistics.median(values)), 2)
        for product, values in gaps.items()
        if len(values) >= min_pairs
    }
