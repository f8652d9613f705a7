"""The demo's webhooks section: signed WooCommerce deliveries posted to the real app, then processed by a worker.

The deliveries go through Flask's test client (the same app gunicorn serves),
are stored before the answer, queued on the demo's Redis and processed by an
RQ worker into a tenant of their own, ``demo-hooks`` (the main demo tenant is
left as it was): a new order, its completion, a redelivery, a product update,
WooCommerce's creation ping and a forged delivery.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from core import normalize
from core.sections import validate_tenant
from core.store.tenants import Tenant, upsert_tenant
from inbound.deliveries import list_deliveries
from jobs import queues
from relance.wiring import Runtime
from relance.worker import RelanceWorker
from webhooks.app import create_app
from webhooks.signing import sign_woocommerce

URL = "/hooks/{tenant}/woocommerce"
ORDER_ID = 90001
TENANT = "demo-hooks"
SECRET = "demo-hooks-webhook-secret-change-me"  # noqa: S105 - the demo's own


def _wc_time(when: Any) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _line(line_id: int, name: str, product_id: int, quantity: int, total: str) -> dict[str, Any]:
    # WooCommerce sends the unit price as a JSON number (total / quantity), the totals as strings.
    return {
        "id": line_id,
        "name": name,
        "product_id": product_id,
        "variation_id": 0,
        "quantity": quantity,
        "subtotal": total,
        "total": total,
        "sku": None,
        "price": float(total) / quantity,
    }


def _order(shop: str, status: str, modified: Any, created: Any) -> dict[str, Any]:
    billing = {"first_name": "Camille", "last_name": "Martin", "city": "Nantes", "country": "FR"}
    billing |= {"email": "camille.martin@example.org", "phone": "", "company": "", "address_1": "", "postcode": ""}
    return {
        "id": ORDER_ID,
        "number": str(ORDER_ID),
        "status": status,
        "currency": "EUR",
        "total": "38.50",
        "customer_id": 0,
        "date_created_gmt": _wc_time(created),
        "date_modified_gmt": _wc_time(modified),
        "date_paid_gmt": _wc_time(created),
        "billing": billing,
        "line_items": [
            _line(1, "Thé vert Sencha", 7001, 2, "13.00"),
            _line(2, "Théière fonte", 7002, 1, "25.50"),
        ],
        "refunds": [],
        "coupon_lines": [],
        "_links": {"self": [{"href": f"{shop}/wp-json/wc/v3/orders/{ORDER_ID}"}]},
    }


def _product(shop: str, modified: Any) -> dict[str, Any]:
    return {
        "id": 7002,
        "name": "Théière fonte",
        "type": "simple",
        "status": "publish",
        "permalink": f"{shop}/produit/theiere-fonte/",
        "date_modified_gmt": _wc_time(modified),
        "sku": "TF-1",
        "price": "25.50",
        "stock_status": "instock",
        "categories": [{"id": 3, "name": "Th\u00e9 &amp; accessoires", "slug": "the"}],
        "images": [],
        "cross_sell_ids": [7001],
    }


def _wp_json(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def webhooks_section(runtime: Runtime, tenant: Tenant, echo: Callable[[str], None]) -> None:
    """Post a few signed WooCommerce deliveries to the app, process them with a worker, print what happened."""
    config = {
        "name": TENANT,
        "platform": "woocommerce",
        "url": tenant.config.url,
        "webhook_secret": SECRET,
        "timezone": tenant.config.timezone,
        "locale": tenant.config.locale,
        "currency": tenant.config.currency,
    }
    with runtime.engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, validate_tenant(config), runtime.clock())
    secret = SECRET
    client = create_app(runtime).test_client()
    url = URL.format(tenant=tenant.name)
    shop = tenant.config.url
    now = normalize.utc(runtime.clock()).replace(microsecond=0)
    placed, completed = now - timedelta(minutes=20), now - timedelta(minutes=5)
    deliveries = [
        ("order.created", _order(shop, "processing", placed, placed)),
        ("order.updated", _order(shop, "completed", completed, placed)),
        ("order.updated", _order(shop, "completed", completed, placed)),  # WooCommerce retried it
        ("product.updated", _product(shop, completed)),
    ]
    codes: list[int] = []
    started = time.perf_counter()
    codes.append(client.post(url, data=b"webhook_id=1").status_code)
    for topic, payload in deliveries:
        body = _wp_json(payload)
        headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": sign_woocommerce(body, secret)}
        codes.append(client.post(url, data=body, headers=headers | {"Content-Type": "application/json"}).status_code)
    forged = _wp_json(_order(shop, "refunded", now, placed))
    codes.append(
        client.post(
            url, data=forged, headers={"X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Signature": "AAAA"}
        ).status_code
    )
    answered = (time.perf_counter() - started) * 1000 / len(codes)
    echo(
        f"  webhooks   tenant {TENANT!r}: {len(codes)} requests to {url}: ping {codes[0]}, "
        f"{len(deliveries)} signed deliveries {sorted(set(codes[1:-1]))}, a forged one {codes[-1]} "
        f"({answered:.0f} ms each, stored before answering)"
    )
    redis = runtime.redis
    queue = queues.queue(redis, queues.DEFAULT)
    waiting = queue.count
    RelanceWorker([queue], connection=redis, runtime=runtime).work(burst=True, logging_level="WARNING")

    with runtime.engine.connect() as conn:
        recent = list_deliveries(conn, tenant.id, limit=len(deliveries))
    echo(f"             worker: {waiting} jobs processed")
    for delivery in reversed(recent):
        result = delivery.result or {}
        what = "duplicate, nothing changed" if result.get("duplicates") else f"{result.get('stored', 0)} event stored"
        echo(f"               #{delivery.id:<5} {delivery.topic:<16} {delivery.state}: {delivery.error or what}")
    echo(f"             see them with: relance deliveries --tenant {tenant.name}")
