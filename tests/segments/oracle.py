"""Who should be in which segment, computed in Python from a test shop's records (no SQL)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.segments.settings import DEFAULT_ENGAGEMENT_EVENTS
from tests.segments.shop import PRODUCTS, Person, url_of

DAY = timedelta(days=1)
BUILTIN_NAMES = ("cold_prospect", "warm_prospect", "occasional_customer", "loyal_customer", "at_risk", "new_customer")


def paid_orders(person: Person):
    return [o for o in person.orders if o.paid]


def engaged(person: Person, now: datetime, days: int = 90) -> bool:
    since = now - timedelta(days=days)
    times = [at for name, at, _ in person.activity if name in DEFAULT_ENGAGEMENT_EVENTS]
    times += [o.at for o in person.orders]  # every first order event is an order_placed
    times += [c.at for c in person.carts]  # cart_updated
    return any(t >= since for t in times)


def builtins(people: list[Person], now: datetime, k: float, beta: float) -> dict[str, set[str]]:
    """The built-in segments with the default thresholds; the interval prior's k and beta are given."""
    found: dict[str, set[str]] = {name: set() for name in BUILTIN_NAMES}
    for person in people:
        if not person.email:
            continue
        paid = paid_orders(person)
        if not paid:
            found["warm_prospect" if engaged(person, now) else "cold_prospect"].add(person.email)
            continue
        recent = [o for o in paid if o.at >= now - timedelta(days=365)]
        found["loyal_customer" if len(recent) >= 3 else "occasional_customer"].add(person.email)
        first, last = min(o.at for o in paid), max(o.at for o in paid)
        days = len(paid)
        idle = (now - last) / DAY
        if days == 1:
            risky = idle > 180
        else:
            interval = (beta + (last - first) / DAY) / (k + days - 1)
            risky = idle > 2 * interval
        if risky:
            found["at_risk"].add(person.email)
        if first >= now - timedelta(days=30):
            found["new_customer"].add(person.email)
    return found


def recorded_changes(events) -> list[tuple[str, str, str]]:
    """The (event, segment, email) of a refresh's segment events of built-in segments, sorted."""
    return sorted(
        (e.event, e.properties["segment"], e.contact.email) for e in events if e.properties["segment"] in BUILTIN_NAMES
    )


def expected_changes(before: dict[str, set[str]], after: dict[str, set[str]]) -> list[tuple[str, str, str]]:
    """What ``recorded_changes`` should be when the built-in segments went from ``before`` to ``after``."""
    return sorted(
        [("segment_entered", name, email) for name in BUILTIN_NAMES for email in after[name] - before[name]]
        + [("segment_exited", name, email) for name in BUILTIN_NAMES for email in before[name] - after[name]]
    )


def _months_ago(now: datetime, months: int) -> datetime:
    index = now.year * 12 + now.month - 1 - months
    return now.replace(year=index // 12, month=index % 12 + 1)


def _clicked_brand(props: dict, brand: str) -> bool:
    url = props.get("url", "").split("?")[0]
    for product_id, (product_brand, _, _) in PRODUCTS.items():
        if product_brand.lower() == brand.lower() and (
            props.get("product_id") == product_id or url == url_of(product_id)
        ):
            return True
    return False


def rules(people: list[Person], now: datetime, timezone: str = "Europe/Paris") -> dict[str, set[str]]:
    """The five rule examples of the issue, as in ``RULES``."""
    found: dict[str, set[str]] = {name: set() for name in RULES}
    month = now.astimezone(ZoneInfo(timezone)).month
    for person in people:
        if not person.email:
            continue
        paid = paid_orders(person)
        since = _months_ago(now, 6)
        if sum(q for o in paid if o.at >= since for _, q in o.items) >= 6:
            found["big_buyers"].add(person.email)
        brand_orders = sum(1 for o in paid if any(PRODUCTS[p][0] == "Verde Tea" for p, _ in o.items))
        brand_clicks = sum(
            1 for n, _, pr in person.activity if n == "email_clicked" and _clicked_brand(pr, "verde tea")
        )
        if brand_orders > 1 or brand_clicks >= 2:
            found["brand_fans"].add(person.email)
        for cart in person.carts:
            converted = any(o.cart_id == cart.cart_id for o in person.orders)
            later = any(o.at >= cart.at for o in person.orders)
            if now - timedelta(hours=24) <= cart.at <= now - timedelta(minutes=60) and not converted and not later:
                found["cart_abandoners"].add(person.email)
        views = 0
        for name, at, props in person.activity:
            if at < now - timedelta(days=30):
                continue
            if name == "product_viewed" and "Thé" in props["categories"]:
                views += 1
            if name == "category_viewed" and props["category"] == "Thé":
                views += 1
        bought_tea = any("Thé" in PRODUCTS[p][1] for o in paid for p, _ in o.items)
        if views >= 3 and not bought_tea:
            found["tea_browsers"].add(person.email)
        if paid and (person.city or "").lower() == "lyon" and person.birthday and person.birthday.month == month:
            found["lyon_birthdays"].add(person.email)
    return found


RULES = {
    "big_buyers": {"did": "bought", "count": "items", "at_least": 6, "in_last": {"months": 6}},
    "brand_fans": {
        "any": [
            {"did": "bought", "where": {"brand": "Verde Tea"}, "more_than": 1},
            {"did": "clicked", "where": {"brand": "verde tea"}, "at_least": 2},
        ]
    },
    "cart_abandoners": {"did": "abandoned_cart", "in_last": {"hours": 24}},
    "tea_browsers": {
        "all": [
            {"did": "viewed", "where": {"category": "Thé"}, "at_least": 3, "in_last": {"days": 30}},
            {"not": {"did": "bought", "where": {"category": "Thé"}}},
        ]
    },
    "lyon_birthdays": {
        "all": [
            {"did": "bought"},
            {"field": "city", "equals": "Lyon"},
            {"field": "birthday", "is": "this_month"},
        ]
    },
}


def score(person: Person, now: datetime, points: dict[str, float], half_life: float = 30.0) -> float:
    times = [(name, at) for name, at, _ in person.activity]
    times += [("order_placed", o.at) for o in person.orders] + [("cart_updated", c.at) for c in person.carts]
    return sum(points.get(name, 0) * math.pow(0.5, ((now - at) / DAY) / half_life) for name, at in times)
