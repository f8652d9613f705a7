"""A deterministic sample shop for the demo and the simulations.

"Maison Lumière", a coffee and tea shop: a catalogue with brands and
categories, a few hundred contacts, a year of orders up to ``today`` (loyal
buyers who come back for their coffee, occasional ones, prospects), open carts
and browsing. The same seed and the same ``today`` give the same events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from core import normalize

BRANDS = ("Brûlerie Soleil", "Monts d'Or", "Verde Tea", "Kettle & Co", "Porcelaine Blanche", "Barista Pro")
CATALOGUE: tuple[tuple[str, str, str, str, int], ...] = (
    # name, brand, category, price, repurchase days (0 = not consumable)
    ("Espresso Intenso 1 kg", "Brûlerie Soleil", "Café en grains", "24.90", 30),
    ("Moka d'Éthiopie 500 g", "Brûlerie Soleil", "Café en grains", "15.50", 25),
    ("Décaféiné Doux 500 g", "Brûlerie Soleil", "Café en grains", "14.90", 35),
    ("Colombie Huila 250 g", "Monts d'Or", "Café en grains", "9.80", 21),
    ("Guatemala Antigua 1 kg", "Monts d'Or", "Café en grains", "29.00", 40),
    ("Brésil Santos 500 g", "Monts d'Or", "Café en grains", "12.40", 28),
    ("Sencha Bio 100 g", "Verde Tea", "Thé", "8.90", 45),
    ("Earl Grey Fleurs 100 g", "Verde Tea", "Thé", "7.50", 40),
    ("Rooibos Vanille 100 g", "Verde Tea", "Thé", "6.90", 50),
    ("Matcha Cérémonie 30 g", "Verde Tea", "Thé", "19.90", 30),
    ("Filtres papier n°4 (100)", "Kettle & Co", "Accessoires", "3.90", 60),
    ("Bouilloire col de cygne", "Kettle & Co", "Accessoires", "59.00", 0),
    ("Moulin manuel céramique", "Kettle & Co", "Accessoires", "45.00", 0),
    ("Balance de précision", "Kettle & Co", "Accessoires", "29.90", 0),
    ("Tasse espresso (x2)", "Porcelaine Blanche", "Tasses", "18.00", 0),
    ("Mug Lumière 35 cl", "Porcelaine Blanche", "Tasses", "12.50", 0),
    ("Théière fonte 80 cl", "Porcelaine Blanche", "Tasses", "49.00", 0),
    ("Machine expresso Compacta", "Barista Pro", "Machines", "349.00", 0),
    ("Cafetière à piston 1 l", "Barista Pro", "Machines", "34.90", 0),
    ("Détartrant bio", "Barista Pro", "Accessoires", "9.90", 90),
    ("Chocolat chaud 250 g", "Monts d'Or", "Chocolat", "8.50", 30),
    ("Sirop caramel 25 cl", "Kettle & Co", "Accessoires", "6.50", 45),
)
FIRST_NAMES_FR = (
    "Marie",
    "Camille",
    "Léa",
    "Chloé",
    "Manon",
    "Inès",
    "Zoé",
    "Lucas",
    "Hugo",
    "Louis",
    "Jules",
    "Gabriel",
    "Arthur",
    "Théo",
    "Émile",
    "Noémie",
    "Élodie",
    "Hélène",
    "François",
    "Amélie",
)
FIRST_NAMES_EN = (
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Oliver",
    "George",
    "Noah",
    "Harry",
    "Jack",
    "Sophie",
    "Grace",
    "Liam",
    "Ella",
    "Ethan",
)
LAST_NAMES_FR = (
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
)
LAST_NAMES_EN = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Murphy",
    "Walsh",
    "O'Brien",
    "Evans",
)
CITIES = {
    "FR": (
        ("Lyon", "Europe/Paris"),
        ("Paris", "Europe/Paris"),
        ("Marseille", "Europe/Paris"),
        ("Bordeaux", "Europe/Paris"),
        ("Lille", "Europe/Paris"),
        ("Nantes", "Europe/Paris"),
    ),
    "BE": (("Bruxelles", "Europe/Brussels"), ("Liège", "Europe/Brussels")),
    "GB": (("London", "Europe/London"), ("Manchester", "Europe/London")),
    "IE": (("Dublin", "Europe/Dublin"), ("Cork", "Europe/Dublin")),
}
SHOP_URL = "https://maison-lumiere.example"


@dataclass(frozen=True)
class SampleProduct:
    product_id: str
    sku: str
    name: str
    brand: str
    category: str
    price: Decimal
    repurchase_days: int

    def item(self, quantity: int = 1) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "quantity": quantity,
            "price": str(self.price),
            "brand": self.brand,
            "categories": [self.category],
            "url": f"{SHOP_URL}/p/{self.product_id}",
            "image_url": f"{SHOP_URL}/img/{self.product_id}.jpg",
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


class _Builder:
    def __init__(self, today: date, seed: int) -> None:
        self.rng = random.Random(seed)
        self.end = datetime.combine(today, time(0), tzinfo=UTC)
        self.start = self.end - timedelta(days=365)
        self.events: list[dict[str, Any]] = []
        self.counter = 0
        self.products = [
            SampleProduct(str(101 + i), f"ML-{101 + i}", name, brand, category, Decimal(price), days)
            for i, (name, brand, category, price, days) in enumerate(CATALOGUE)
        ]
        self.pairs = {  # what goes with what, for the co-purchase statistics
            "Café en grains": ("Filtres papier n°4 (100)", "Mug Lumière 35 cl", "Sirop caramel 25 cl"),
            "Thé": ("Théière fonte 80 cl", "Mug Lumière 35 cl"),
            "Machines": ("Espresso Intenso 1 kg", "Tasse espresso (x2)", "Détartrant bio"),
        }
        self.by_name = {p.name: p for p in self.products}

    def emit(self, when: datetime, raw: dict[str, Any]) -> None:
        self.counter += 1
        raw.setdefault("message_id", f"demo-{self.counter:06d}")
        raw["timestamp"] = _iso(when)
        self.events.append(raw)

    def at(self, day: datetime) -> datetime:
        return day.replace(hour=self.rng.randint(8, 21), minute=self.rng.randint(0, 59), second=self.rng.randint(0, 59))

    def catalogue(self) -> None:
        for product in self.products:
            self.emit(
                self.start - timedelta(days=30),
                {
                    "type": "track",
                    "event": "product_updated",
                    "source": "woocommerce",
                    "properties": {
                        "product_id": product.product_id,
                        "sku": product.sku,
                        "name": product.name,
                        "brand": product.brand,
                        "categories": [product.category],
                        "price": str(product.price),
                        "currency": "EUR",
                        "in_stock": product.name != "Matcha Cérémonie 30 g",
                        "url": f"{SHOP_URL}/p/{product.product_id}",
                        "image_url": f"{SHOP_URL}/img/{product.product_id}.jpg",
                    },
                },
            )

    def person(self, index: int) -> dict[str, Any]:
        rng = self.rng
        country = rng.choices(("FR", "BE", "GB", "IE"), weights=(70, 10, 12, 8))[0]
        english = country in ("GB", "IE")
        first = rng.choice(FIRST_NAMES_EN if english else FIRST_NAMES_FR)
        last = rng.choice(LAST_NAMES_EN if english else LAST_NAMES_FR)
        city, tz = rng.choice(CITIES[country])
        ascii_first = first.translate(str.maketrans("éèëÉ", "eeeE"))
        ascii_last = last.translate(str.maketrans("éèëÉ'", "eeeE-"))
        contact: dict[str, Any] = {
            "email": f"{ascii_first}.{ascii_last}{index}@example.{'co.uk' if country == 'GB' else country.lower()}",
            "first_name": first if rng.random() > 0.05 else None,
            "last_name": last,
            "country": country,
            "city": city,
            "locale": {"FR": "fr_FR", "BE": "fr_BE", "GB": "en_GB", "IE": "en_IE"}[country],
            "timezone": tz,
            "consent": {"email": rng.random() < 0.75, "sms": rng.random() < 0.25},
        }
        if rng.random() < 0.6:
            contact["birthday"] = date(rng.randint(1955, 2004), rng.randint(1, 12), rng.randint(1, 28)).isoformat()
        if index % 97 == 0:
            contact["birthday"] = date(1988, 2, 29).isoformat()
        if rng.random() < 0.4:
            prefix = {"FR": "+3361", "BE": "+32470", "GB": "+447911", "IE": "+35387"}[country]
            digits = {"FR": 7, "BE": 6, "GB": 6, "IE": 7}[country]
            number = prefix + "".join(str(rng.randint(0, 9)) for _ in range(digits))
            try:
                contact["phone"] = normalize.phone(number)
            except ValueError:
                pass  # not in an allocated range: this shopper gave no phone
        return contact

    def basket(self) -> list[dict[str, Any]]:
        rng = self.rng
        main = rng.choices(self.products, weights=[6 if p.repurchase_days else 2 for p in self.products])[0]
        items = [main.item(rng.choice((1, 1, 1, 2)))]
        companions = self.pairs.get(main.category, ())
        if companions and rng.random() < 0.55:
            items.append(self.by_name[rng.choice(companions)].item())
        return items

    def order(
        self, when: datetime, contact: dict[str, Any], customer_id: str | None, items: list[dict[str, Any]], number: int
    ) -> None:
        total = sum(Decimal(i["price"]) * i["quantity"] for i in items)
        shipping = Decimal("0") if total >= 49 else Decimal("4.90")
        roll = self.rng.random()
        status = "completed" if roll < 0.9 else "cancelled" if roll < 0.95 else "refunded"
        who = {"email": contact["email"], "first_name": contact.get("first_name"), "last_name": contact["last_name"]}
        if customer_id:
            who["external_id"] = customer_id
        props = {
            "order_id": str(number),
            "number": str(number),
            "currency": "EUR",
            "total": str(total + shipping),
            "items": items,
            "cart_id": f"cart-{number}",
        }
        self.emit(
            when,
            {
                "type": "track",
                "event": "order_placed",
                "source": "woocommerce",
                "contact": who,
                "properties": {**props, "status": "paid"},
            },
        )
        later = when + timedelta(days=self.rng.randint(1, 4))
        if later < self.end:
            self.emit(
                later,
                {
                    "type": "track",
                    "event": "order_updated",
                    "source": "woocommerce",
                    "contact": who,
                    "properties": {**props, "status": status},
                },
            )

    def shoppers(self, count: int) -> None:
        rng = self.rng
        number = 1000
        for index in range(1, count + 1):
            contact = self.person(index)
            joined = self.start + timedelta(days=rng.randint(-200, 330))
            kind = rng.choices(("loyal", "occasional", "one_time", "prospect"), weights=(12, 25, 28, 35))[0]
            account = kind != "one_time" or rng.random() < 0.3
            customer_id = str(index) if account else None
            anon = f"anon-{index:04d}"
            if joined > self.start:
                for _ in range(rng.randint(1, 4)):  # browsing before identifying
                    product = rng.choice(self.products)
                    self.emit(self.at(joined - timedelta(days=rng.randint(0, 10))), self._view(anon, product))
            if account:
                self.emit(
                    self.at(joined),
                    {
                        "type": "track",
                        "event": "account_created",
                        "source": "woocommerce",
                        "anonymous_id": anon,
                        "contact": {**contact, "external_id": customer_id},
                    },
                )
            elif kind == "prospect" or rng.random() < 0.5:
                self.emit(
                    self.at(joined),
                    {
                        "type": "track",
                        "event": "newsletter_subscribed",
                        "source": "woocommerce",
                        "anonymous_id": anon,
                        "contact": contact,
                        "properties": {"list": "newsletter"},
                    },
                )
            favourite = rng.choice([p for p in self.products if p.repurchase_days])
            day = max(joined, self.start) + timedelta(days=rng.randint(0, 20))
            orders = {"loyal": 99, "occasional": rng.randint(1, 2), "one_time": 1, "prospect": 0}[kind]
            placed = 0
            while placed < orders and day < self.end - timedelta(hours=2):
                items = self.basket()
                if kind == "loyal":
                    items = [favourite.item(rng.choice((1, 2)))] + [
                        i for i in items if i["product_id"] != favourite.product_id
                    ][:1]
                number += 1
                self.order(self.at(day), contact, customer_id, items, number)
                placed += 1
                gap = favourite.repurchase_days if kind == "loyal" else rng.randint(40, 200)
                day += timedelta(days=max(7, int(rng.gauss(gap, gap * 0.15))))
            for _ in range(rng.randint(0, 6 if kind != "prospect" else 3)):  # browsing while known
                when = self.start + timedelta(days=rng.randint(0, 364))
                self.emit(self.at(when), self._view(anon, rng.choice(self.products)))
            if rng.random() < 0.08:  # an open cart in the last three days
                when = self.end - timedelta(hours=rng.randint(2, 70))
                items = self.basket()
                total = sum(Decimal(i["price"]) * i["quantity"] for i in items)
                self.emit(
                    when,
                    {
                        "type": "track",
                        "event": "cart_updated",
                        "source": "tracker",
                        "anonymous_id": anon,
                        "contact": {"email": contact["email"]},
                        "properties": {
                            "cart_id": f"open-{index}",
                            "currency": "EUR",
                            "total": str(total),
                            "items": items,
                            "recovery_url": f"{SHOP_URL}/cart/restore/open-{index}",
                        },
                    },
                )

    def _view(self, anon: str, product: SampleProduct) -> dict[str, Any]:
        return {
            "type": "track",
            "event": "product_viewed",
            "source": "tracker",
            "anonymous_id": anon,
            "properties": {
                "product_id": product.product_id,
                "sku": product.sku,
                "name": product.name,
                "brand": product.brand,
                "categories": [product.category],
                "price": str(product.price),
                "currency": "EUR",
                "url": f"{SHOP_URL}/p/{product.product_id}",
            },
        }


def generate(today: date, seed: int = 7, contacts: int = 300) -> list[dict[str, Any]]:
    """Return the sample shop's events (Event API v1 objects) in time order."""
    builder = _Builder(today, seed)
    builder.catalogue()
    builder.shoppers(contacts)
    return sorted(builder.events, key=lambda raw: (raw["timestamp"], raw["message_id"]))
