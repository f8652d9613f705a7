"""A hand-built shop for the segment tests, and an oracle that says who should be where.

``build_shop(seed)`` returns a catalogue and contacts with their histories
(plain Python records) and the Event API events that tell the same story. The
oracle functions compute each segment from the records, in Python, without
SQL: the tests compare them with what Relance computed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.events import parse_event
from core.model import Event
from tests.conftest import NOW

SHOP = "https://shop.example.com"
PRODUCTS = {
    # id: (brand, categories, price)
    "p1": ("Verde Tea", ["Thé"], "8.90"),
    "p2": ("Verde Tea", ["Thé", "Bio"], "19.90"),
    "p3": ("Monts d'Or", ["Café en grains"], "12.40"),
    "p4": ("Brûlerie Soleil", ["Café en grains"], "24.90"),
    "p5": ("Kettle & Co", ["Accessoires"], "3.90"),
    "p6": ("Barista Pro", ["Machines", "Thé"], "34.90"),
}
CITIES = ["Lyon", "lyon", "LYON", "Paris", "Marseille", None]
STATUSES = ["paid", "paid", "completed", "completed", "pending", "cancelled", "refunded"]


def url_of(product_id: str) -> str:
    return f"{SHOP}/p/{product_id}"


@dataclass
class Order:
    order_id: str
    at: datetime
    status: str
    items: list[tuple[str, int]]  # product_id, quantity
    cart_id: str | None = None

    @property
    def paid(self) -> bool:
        return self.status in ("paid", "completed")

    @property
    def total(self) -> float:
        return sum(float(PRODUCTS[p][2]) * q for p, q in self.items)


@dataclass
class Cart:
    cart_id: str
    at: datetime
    items: list[tuple[str, int]]


@dataclass
class Person:
    index: int
    email: str | None
    city: str | None
    birthday: date | None
    anonymous_id: str
    orders: list[Order] = field(default_factory=list)
    carts: list[Cart] = field(default_factory=list)
    #: (event name, time, properties)
    activity: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)


def _items(rng: random.Random) -> list[tuple[str, int]]:
    return [(rng.choice(list(PRODUCTS)), rng.randint(1, 3)) for _ in range(rng.randint(1, 3))]


def _ago(rng: random.Random, low_days: float, high_days: float) -> datetime:
    seconds = rng.uniform(low_days * 86400, high_days * 86400)
    return (NOW - timedelta(seconds=seconds)).replace(microsecond=0)


def build_people(seed: int = 1, count: int = 40) -> list[Person]:
    rng = random.Random(seed)
    people = []
    for i in range(count):
        birthday = date(rng.randint(1950, 2004), rng.choice([NOW.month, rng.randint(1, 12)]), rng.randint(1, 28))
        person = Person(
            index=i,
            email=f"c{i}@example.com" if i != count - 1 else None,  # the last one is an anonymous visitor
            city=rng.choice(CITIES),
            birthday=birthday if rng.random() < 0.8 else None,
            anonymous_id=f"anon-{seed}-{i}",
        )
        kind = rng.random()
        n_orders = 0 if kind < 0.35 else rng.choice([1, 1, 2, 3, 4, 6])
        spread = rng.choice([40, 200, 500])
        for k in range(n_orders):
            person.orders.append(Order(f"o{i}-{k}", _ago(rng, 0.5, spread), rng.choice(STATUSES), _items(rng)))
        if rng.random() < 0.5:
            cart = Cart(f"cart{i}", _ago(rng, 0.05, 3), _items(rng))
            person.carts.append(cart)
            if rng.random() < 0.3:
                later = cart.at + timedelta(minutes=rng.randint(5, 600))
                if later < NOW:
                    person.orders.append(Order(f"o{i}-cart", later, "paid", cart.items, cart_id=cart.cart_id))
        for _ in range(rng.randint(0, 8)):
            kind = rng.choice(["product_viewed", "category_viewed", "email_opened", "email_clicked", "page_viewed"])
            at = _ago(rng, 0, rng.choice([20, 45, 150]))
            product = rng.choice(list(PRODUCTS))
            brand, categories, price = PRODUCTS[product]
            if kind == "product_viewed":
                props = {"product_id": product, "brand": brand, "categories": categories, "price": price}
            elif kind == "category_viewed":
                props = {"category": rng.choice(["Thé", "Café en grains", "Accessoires"])}
            elif kind == "email_clicked":
                how = rng.random()
                if how < 0.4:
                    props = {"url": url_of(product) + "?utm_source=relance", "flow": "welcome"}
                elif how < 0.7:
                    props = {"url": f"{SHOP}/blog", "product_id": product, "flow": "welcome"}
                else:
                    props = {"url": f"{SHOP}/about", "flow": "welcome"}
            else:
                props = {"url": f"{SHOP}/"} if kind == "page_viewed" else {"flow": "welcome"}
            person.activity.append((kind, at, props))
        if rng.random() < 0.2:
            person.activity.append(("newsletter_subscribed", _ago(rng, 0, 200), {"list": "news"}))
        if rng.random() < 0.15:
            person.activity.append(("form_submitted", _ago(rng, 0, 200), {"form": rng.choice(["quote", "contact"])}))
        people.append(person)
    return people


def _item(product_id: str, quantity: int) -> dict[str, Any]:
    brand, categories, price = PRODUCTS[product_id]
    return {"product_id": product_id, "quantity": quantity, "price": price, "brand": brand, "categories": categories}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def shop_events(people: list[Person], seed: int = 1) -> list[Event]:
    """The catalogue and every person's story as events, in time order."""
    raw: list[tuple[datetime, dict[str, Any]]] = []
    start = NOW - timedelta(days=900)
    for product_id, (brand, categories, price) in PRODUCTS.items():
        props = {"product_id": product_id, "name": product_id, "brand": brand, "categories": categories}
        props.update({"price": price, "currency": "EUR", "url": url_of(product_id)})
        raw.append(
            (start, {"type": "track", "event": "product_updated", "timestamp": _iso(start), "properties": props})
        )
    for person in people:
        contact: dict[str, Any] = {"email": person.email} if person.email else {}
        profile = dict(contact, city=person.city, birthday=person.birthday.isoformat() if person.birthday else None)
        first = start + timedelta(days=person.index)
        identify = {"type": "identify", "timestamp": _iso(first), "contact": profile}
        if not person.email:
            identify["anonymous_id"] = person.anonymous_id
        raw.append((first, identify))
        for order in person.orders:
            props = {"order_id": order.order_id, "status": order.status, "currency": "EUR"}
            props.update({"total": f"{order.total:.2f}", "items": [_item(p, q) for p, q in order.items]})
            if order.cart_id:
                props["cart_id"] = order.cart_id
            raw.append((order.at, {"type": "track", "event": "order_placed", "timestamp": _iso(order.at),
                                   "contact": contact, "properties": props, "source": "woocommerce"}))  # fmt: skip
        for cart in person.carts:
            props = {"cart_id": cart.cart_id, "currency": "EUR", "items": [_item(p, q) for p, q in cart.items]}
            raw.append((cart.at, {"type": "track", "event": "cart_updated", "timestamp": _iso(cart.at),
                                  "contact": contact, "properties": props, "source": "woocommerce"}))  # fmt: skip
        for name, at, props in person.activity:
            entry = {"type": "track", "event": name, "timestamp": _iso(at), "contact": contact, "properties": props}
            if name in ("product_viewed", "category_viewed", "page_viewed"):
                entry["anonymous_id"] = person.anonymous_id
            if not contact:
                entry["anonymous_id"] = person.anonymous_id
            raw.append((at, entry))
    raw.sort(key=lambda pair: pair[0])
    out = []
    for n, (_, entry) in enumerate(raw):
        entry["message_id"] = f"shop-{seed}-{n}"
        if entry.get("event") != "product_updated" and not (entry.get("contact") or {}).get("email"):
            entry.setdefault("anonymous_id", f"anon-{seed}-orphan")
        if "contact" not in entry and entry.get("event") != "product_updated":
            entry["contact"] = {}
        out.append(parse_event(entry))
    return out
