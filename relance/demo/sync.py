"""The demo's sync section: a real sync, over HTTP, from a small fake WooCommerce shop on loopback.

The shop (``connectors.woocommerce.fakeshop``, 50 generated orders) runs on a
thread for the few seconds the sync takes; its data goes into a tenant of its
own, ``demo-woo``, so the main demo tenant is left as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from connectors.sync import run_sync
from connectors.woocommerce.connector import from_tenant
from connectors.woocommerce.fakedata import generate_shop
from connectors.woocommerce.fakeshop import serve
from core.sections import validate_tenant
from core.store.tenants import Tenant, upsert_tenant
from relance.wiring import Runtime

TENANT = "demo-woo"
ORDERS = 50
KEY = "ck_demo_0123456789abcdef0123456789abcdef"
SECRET = "cs_demo_0123456789abcdef0123456789abcdef"  # noqa: S105 - the fake shop's fake key


def sync_section(runtime: Runtime, tenant: Tenant, echo: Callable[[str], None]) -> None:
    """Serve a fake WooCommerce shop, sync it into ``demo-woo`` and print what the sync did."""
    shop = generate_shop(ORDERS, consumer_key=KEY, consumer_secret=SECRET, products=20)
    server, url = serve(shop)
    try:
        config = validate_tenant(
            {
                "name": TENANT,
                "platform": "woocommerce",
                "url": url,
                "credentials": {"consumer_key": KEY, "consumer_secret": SECRET},
                "timezone": "Europe/Paris",
                "locale": tenant.config.locale,
                "currency": "EUR",
                "sync": {"birthday_meta_key": "billing_birth_date"},
            }
        )
        with runtime.engine.begin() as conn:
            demo, _ = upsert_tenant(conn, config, runtime.clock())
        started = time.perf_counter()
        report = run_sync(
            runtime.engine, demo, from_tenant(config), clock=runtime.clock, producer=runtime.settings.sync_producer
        )
        elapsed = time.perf_counter() - started
    finally:
        server.shutdown()
        server.server_close()
    echo(
        f"  sync       tenant {TENANT!r} from a fake WooCommerce shop at {url} "
        f"({shop.requests_served} REST requests, {elapsed:.1f} s):"
    )
    for resource, stats in report.resources.items():
        echo(
            f"             {resource.value:<10} fetched {stats.fetched}, created {stats.created}, "
            f"updated {stats.updated}, unchanged {stats.unchanged}, skipped {stats.skipped}"
        )
    echo(f"             try: relance export orders --tenant {TENANT} | head -2")
