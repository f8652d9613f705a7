"""Deterministic WooCommerce shop data of any size, generated on demand (never all in memory).

Record ``i`` of each collection is computed from ``i`` alone, shaped like the
REST API v3 payloads (strings for money, a float ``price`` on line items,
``_gmt`` and site-local dates, guests with ``customer_id`` 0, variations,
refunds, HTML-escaped names, non-ASCII names). Ids, creation and modification
times grow with the index (two orders share each modification second, to
exercise tie-breaking), so ``fakeshop.FakeShop`` can page through 100,000
orders without scanning them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from connectors.woocommerce.fakeshop import FakeShop, ListCollection

BASE = datetime(2025, 1, 1, tzinfo=UTC)
SITE_OFFSET = timedelta(hours=1)  # the shop's local time (Europe/Paris in winter) for the non-_gmt dates
ORDER_ID_START = 1000
PRODUCT_ID_START = 10
FIRST_NAMES = ("Zoé", "José", "Léa", "Marc", "Ana", "Jürgen", "Chloé", "Noël", "Inès", "Tom", "Åsa", "Yuki")
LAST_NAMES = ("Ångström", "Dupont", "De Smet", "O'Neil", "Martin", "Müller", "García", "Nguyễn", "Rossi", "Leroy")
CITIES = (("FR", "Lyon"), ("BE", "Bruxelles"), ("FR", "Paris"))
STATUSES = (
    ("completed", 60),
    ("processing", 20),
    ("cancelled", 5),
    ("pending", 5),
    ("failed", 4),
    ("refunded", 3),
    ("on-hold", 3),
)
CATEGORIES = ("Coffee &amp; Tea", "Gifts", "Mugs", "Teapots", "Accessories")
BRANDS = ("Maison Lumière", "Kōhī &amp; Co", "Atelier Thé")


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _pair(when: datetime) -> tuple[str, str]:
    """(site-local, gmt) strings of a UTC time."""
    return _iso(when + SITE_OFFSET), _iso(when)


def _phone(country: str, serial: int) -> str:
    """A national-format mobile number of its own for each person (as shoppers type them)."""
    digits = f"{serial % 1_000_000:06d}"
    if country == "BE":
        return f"0470 {digits[:2]} {digits[2:4]} {digits[4:]}"
    return f"06 {12 + serial // 1_000_000 % 80:02d} {digits[:2]} {digits[2:4]} {digits[4:]}"


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


class GeneratedProducts(ListCollection):
    """A small catalogue (held in memory): simple and variable products with brands and categories."""

    def __init__(self, count: int, url: str) -> None:
        records = []
        for i in range(count):
            rng = random.Random(i * 31 + 7)
            product_id = PRODUCT_ID_START + i * 3  # leaves room for two variation ids
            variable = i % 5 == 0
            price = Decimal(rng.randrange(390, 4990)) / 100
            local, gmt = _pair(BASE - timedelta(days=30) + timedelta(minutes=i))
            records.append(
                {
                    "id": product_id,
                    "name": f"{rng.choice(('Café', 'Thé', 'Mug', 'Théière'))} n°{i} &amp; co",
                    "slug": f"product-{i}",
                    "permalink": f"{url}/product/product-{i}/",
                    "date_created": local,
                    "date_created_gmt": gmt,
                    "date_modified": local,
                    "date_modified_gmt": gmt,
                    "type": "variable" if variable else "simple",
                    "status": "publish",
                    "catalog_visibility": "visible",
                    "sku": f"SKU-{i:05d}",
                    "price": _money(price),
                    "regular_price": "" if variable else _money(price),
                    "sale_price": "",
                    "purchasable": True,
                    "stock_status": "outofstock" if i % 17 == 0 else "instock",
                    "categories": [
                        {"id": 9 + c, "name": CATEGORIES[c], "slug": f"cat-{c}"} for c in sorted({i % 5, 1})
                    ],
                    "tags": [],
                    "brands": [{"id": 48 + i % 3, "name": BRANDS[i % 3], "slug": f"brand-{i % 3}"}],
                    "images": [{"id": 700 + i, "src": f"{url}/wp-content/uploads/p{i}.jpg", "name": "", "alt": ""}],
                    "variations": [product_id + 1, product_id + 2] if variable else [],
                    "cross_sell_ids": [PRODUCT_ID_START + ((i + 1) % count) * 3],
                    "upsell_ids": [],
                    "related_ids": [],
                    "parent_id": 0,
                    "meta_data": [],
                }
            )
        super().__init__(records, sorted_by_index=True)


class GeneratedCustomers:
    """``count`` registered customers; customer ``i`` has id ``i + 1``."""

    sorted_by_index = True

    def __init__(self, count: int, birthday_key: str = "billing_birth_date") -> None:
        self.count = count
        self.birthday_key = birthday_key

    def __len__(self) -> int:
        return self.count

    def created(self, index: int) -> datetime:
        return BASE - timedelta(days=60) + timedelta(seconds=97 * index)

    def key(self, index: int, field: str) -> Any:
        if field == "id":
            return index + 1
        when = self.created(index)
        if field.startswith("date_modified"):
            when += timedelta(hours=2)
        return _iso(when) if field.endswith("_gmt") else _iso(when + SITE_OFFSET)

    def index_of(self, record_id: int) -> int | None:
        return record_id - 1 if 1 <= record_id <= self.count else None

    def record(self, index: int) -> dict[str, Any]:
        rng = random.Random(index * 7919 + 1)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country, city = rng.choice(CITIES)
        phone = _phone(country, index)
        created = _pair(self.created(index))
        modified = _pair(self.created(index) + timedelta(hours=2))
        email = f"Customer.{index + 1}@Example.com"
        billing = {
            "first_name": first,
            "last_name": last,
            "company": "",
            "address_1": f"{index % 200 + 1} rue de la République",
            "address_2": "",
            "city": city,
            "state": "",
            "postcode": "69002",
            "country": country,
            "email": email,
            "phone": phone if index % 3 else "",
        }
        meta = [{"id": index * 10 + 1, "key": "default_password_nag", "value": ""}]
        if index % 4 == 0:
            meta.append(
                {
                    "id": index * 10 + 2,
                    "key": self.birthday_key,
                    "value": f"19{60 + index % 40}-0{1 + index % 9}-1{index % 9}",
                }
            )
        return {
            "id": index + 1,
            "date_created": created[0],
            "date_created_gmt": created[1],
            "date_modified": modified[0],
            "date_modified_gmt": modified[1],
            "email": email,
            "first_name": first,
            "last_name": last,
            "role": "customer",
            "username": f"customer{index + 1}",
            "billing": billing,
            "shipping": {k: v for k, v in billing.items() if k != "email"},
            "is_paying_customer": True,
            "avatar_url": "https://secure.gravatar.com/avatar/?s=96&d=mm&r=g",
            "meta_data": meta,
        }


class GeneratedOrders:
    """``count`` orders by the customers (about 1 in 5 a guest); order ``i`` has id ``1000 + i``."""

    sorted_by_index = True

    def __init__(self, count: int, customers: GeneratedCustomers, products: GeneratedProducts, url: str) -> None:
        self.count = count
        self.customers = customers
        self.products = products
        self.url = url

    def __len__(self) -> int:
        return self.count

    def modified(self, index: int) -> datetime:
        return BASE + timedelta(seconds=300 * (index // 2))  # two orders per second: ties on purpose

    def key(self, index: int, field: str) -> Any:
        if field == "id":
            return ORDER_ID_START + index
        when = self.modified(index)
        if field.startswith("date_created"):
            when -= timedelta(minutes=30)
        return _iso(when) if field.endswith("_gmt") else _iso(when + SITE_OFFSET)

    def index_of(self, record_id: int) -> int | None:
        index = record_id - ORDER_ID_START
        return index if 0 <= index < self.count else None

    def record(self, index: int) -> dict[str, Any]:
        rng = random.Random(index * 104729 + 3)
        order_id = ORDER_ID_START + index
        status = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES])[0]
        guest = rng.random() < 0.2 or len(self.customers) == 0
        if guest:
            customer_id = 0
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            country, city = rng.choice(CITIES)
            phone = _phone(country, 5_000_000 + index)
            email = f"guest.{order_id}@example.net"
        else:
            customer_index = rng.randrange(len(self.customers))
            customer = self.customers.record(customer_index)
            customer_id = customer["id"]
            first, last = customer["first_name"], customer["last_name"]
            country, city, phone = (
                customer["billing"]["country"],
                customer["billing"]["city"],
                customer["billing"]["phone"],
            )
            email = customer["email"]
        items = []
        subtotal = Decimal("0")
        for line in range(rng.randint(1, 3)):
            product = self.products.record(rng.randrange(len(self.products)))
            quantity = rng.randint(1, 3)
            unit = Decimal(product["price"])
            variation = product["variations"][line % 2] if product["variations"] else 0
            total = unit * quantity
            subtotal += total
            items.append(
                {
                    "id": order_id * 10 + line,
                    "name": product["name"] + (" - Noir" if variation else ""),
                    "product_id": product["id"],
                    "variation_id": variation,
                    "quantity": quantity,
                    "tax_class": "",
                    "subtotal": _money(total),
                    "subtotal_tax": "0.00",
                    "total": _money(total),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [{"id": order_id * 10 + line, "key": "_reduced_stock", "value": str(quantity)}],
                    "sku": product["sku"],
                    "price": float(unit),
                    "image": {"id": "", "src": product["images"][0]["src"]},
                    "parent_name": product["name"] if variation else None,
                }
            )
        shipping = Decimal("4.90")
        grand = subtotal + shipping
        created = _pair(self.modified(index) - timedelta(minutes=30))
        modified = _pair(self.modified(index))
        paid = status in ("completed", "processing", "refunded")
        billing = {
            "first_name": first,
            "last_name": last,
            "company": "",
            "address_1": "5 rue Haute",
            "address_2": "",
            "city": city,
            "state": "",
            "postcode": "1000",
            "country": country,
            "email": email,
            "phone": phone,
        }
        return {
            "id": order_id,
            "parent_id": 0,
            "status": status,
            "currency": "EUR",
            "version": "10.0.2",
            "prices_include_tax": False,
            "date_created": created[0],
            "date_modified": modified[0],
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": _money(shipping),
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": _money(grand),
            "total_tax": "0.00",
            "customer_id": customer_id,
            "order_key": f"wc_order_{order_id:x}",
            "billing": billing,
            "shipping": {k: v for k, v in billing.items() if k != "email"},
            "payment_method": "bacs",
            "payment_method_title": "Direct bank transfer",
            "transaction_id": "",
            "customer_ip_address": "203.0.113.7",
            "customer_user_agent": "Mozilla/5.0",
            "created_via": "checkout",
            "customer_note": "",
            "date_completed": modified[0] if status == "completed" else None,
            "date_paid": created[0] if paid else None,
            "cart_hash": "",
            "number": str(order_id),
            "meta_data": [{"id": order_id, "key": "is_vat_exempt", "value": "no"}],
            "line_items": items,
            "tax_lines": [],
            "shipping_lines": [],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [{"id": order_id + 500000, "reason": "", "total": "-" + _money(grand)}]
            if status == "refunded"
            else [],
            "payment_url": f"{self.url}/checkout/order-pay/{order_id}/",
            "is_editable": False,
            "needs_payment": status == "pending",
            "needs_processing": True,
            "date_created_gmt": created[1],
            "date_modified_gmt": modified[1],
            "date_completed_gmt": modified[1] if status == "completed" else None,
            "date_paid_gmt": created[1] if paid else None,
            "currency_symbol": "€",
        }


def generate_shop(
    orders: int,
    consumer_key: str = "ck_demo",
    consumer_secret: str = "cs_demo",  # noqa: S107 - a fake shop's fake key
    customers: int | None = None,
    products: int = 60,
    url: str = "http://127.0.0.1",
) -> FakeShop:
    """A fake shop with ``orders`` orders, ``customers`` (default 2 per 5 orders) customers and a catalogue."""
    catalogue = GeneratedProducts(products, url)
    people = GeneratedCustomers(max(1, orders * 2 // 5) if customers is None else customers)
    shop = FakeShop(consumer_key=consumer_key, consumer_secret=consumer_secret, url=url)
    shop.collections = {
        "customers": people,
        "orders": GeneratedOrders(orders, people, catalogue, url),
        "products": catalogue,
    }
    return shop
