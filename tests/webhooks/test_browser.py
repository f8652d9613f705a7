"""The tracker in a real browser: Debian's Chromium, driven by Playwright, loads a shop page with the script.

The shop (another origin) serves a WooCommerce-like product page and a Store
API cart; Relance runs on a real local server. Skipped when /usr/bin/chromium
or Playwright is missing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.serving import make_server

from core.store.deliveries import deliveries
from core.store.schema import carts, contacts, events
from jobs import context, queues
from tests.conftest import FIXTURES, REDIS_URL, make_tenant
from tests.webhooks.conftest import PUBLIC_KEY, Clock, make_runtime
from webhooks.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium (/usr/bin/chromium) is not installed"),
]

CART = {
    "items": [
        {
            "key": "a5771bce93e200c36f7cd9dfd0e5deaa",
            "id": 93,
            "quantity": 2,
            "name": "Woo Single #1",
            "sku": "WS-1",
            "permalink": "https://shop.example.com/product/woo-single-1/",
            "images": [{"id": 40, "src": "https://shop.example.com/ws1.jpg"}],
            "variation": [],
            "prices": {
                "price": "1450",
                "regular_price": "1450",
                "sale_price": "1450",
                "currency_code": "EUR",
                "currency_minor_unit": 2,
            },
        }
    ],
    "totals": {"total_items": "2900", "total_price": "2900", "currency_code": "EUR", "currency_minor_unit": 2},
    "billing_address": {"email": ""},
    "items_count": 2,
}

PAGE = """<!doctype html>
<html><head><title>Woo Single #1 – Maison</title>
<link rel="https://api.w.org/" href="{shop}/wp-json/">
<script>window.relance = window.relance || function () {{ (relance.q = relance.q || []).push(arguments); }};</script>
<script src="{relance}/t/{tenant}.js" async></script>
</head>
<body class="product-template-default single single-product postid-93 woocommerce woocommerce-page">
<h1 class="product_title entry-title">Woo Single #1</h1>
<form id="newsletter-footer" action="/subscribe" onsubmit="event.preventDefault()">
  <input type="email" name="email" id="nl-email"><button type="submit">Subscribe</button>
</form>
</body></html>"""


BLOCK_THEME_PAGE = FIXTURES / "woocommerce" / "real" / "product_page_block_theme.html"


class Shop:
    """A tiny storefront on its own origin: a product page and WooCommerce's Store API cart."""

    def __init__(self) -> None:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if self.path.startswith("/wp-json/wc/store/v1/cart"):
                    self._send(json.dumps(CART).encode(), "application/json")
                elif self.path.startswith("/product/cafe-moka-250g/"):  # recorded from the real shop
                    page = BLOCK_THEME_PAGE.read_text(encoding="utf-8")
                    for key, value in (("{shop}", shop.url), ("{relance}", shop.relance), ("{tenant}", shop.tenant)):
                        page = page.replace(key, value)
                    self._send(page.encode(), "text/html; charset=utf-8")
                else:
                    page = PAGE.format(shop=shop.url, relance=shop.relance, tenant=shop.tenant)
                    self._send(page.encode(), "text/html; charset=utf-8")

            def _send(self, body: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.relance = ""
        self.tenant = "shop"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stage(sqlite_engine, tmp_path, redis, redis_db) -> Iterator[dict[str, Any]]:
    shop = Shop()
    clock = Clock(datetime.now(UTC))
    runtime = make_runtime(sqlite_engine, tmp_path, clock, f"{REDIS_URL}/{redis_db}")
    runtime._redis = redis
    server = make_server("127.0.0.1", 0, create_app(runtime), threaded=True)
    relance_url = f"http://127.0.0.1:{server.server_port}"
    runtime.settings = replace(runtime.settings, base_url=relance_url)
    shop.relance = relance_url
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context.install(runtime)
    tracker = {"public_key": PUBLIC_KEY, "allowed_origins": [shop.url]}
    make_tenant(sqlite_engine, "shop", tracker=tracker)
    make_tenant(sqlite_engine, "consent", tracker={**tracker, "require_consent": True})
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield {"browser": browser, "shop": shop, "engine": sqlite_engine, "redis": redis}
        finally:
            browser.close()
            server.shutdown()
            shop.close()
            context.install(None)  # type: ignore[arg-type]


def process(stage: dict[str, Any]) -> None:
    redis = stage["redis"]
    SimpleWorker([queues.queue(redis, queues.DEFAULT)], connection=redis).work(burst=True, logging_level="WARNING")


def stored_events(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(events).order_by(events.c.id)).all()


def test_the_tracker_reports_browsing_cart_and_signup_from_a_real_browser(stage):
    page = stage["browser"].new_page()
    answered: list[str] = []
    page.on(
        "response",
        lambda r: answered.append(r.request.post_data or "") if "/collect/shop" in r.url and r.status == 204 else None,
    )
    page.goto(stage["shop"].url + "/product/woo-single-1/")
    page.fill("#nl-email", "Marie.Dupont@Example.fr")
    page.click("button[type=submit]")
    # Wait (not a timing assertion) until every batch has been answered, i.e. stored.
    for _ in range(200):
        sent = "".join(answered)
        if all(name in sent for name in ("page_viewed", "cart_updated", "newsletter_subscribed")):
            break
        page.wait_for_timeout(25)
    cookie = next(c for c in page.context.cookies() if c["name"] == "_relance_id")
    process(stage)

    engine = stage["engine"]
    names = [row.name for row in stored_events(engine)]
    for expected in ("page_viewed", "product_viewed", "cart_updated", "identify", "newsletter_subscribed"):
        assert expected in names
    with engine.connect() as conn:
        [contact] = conn.execute(select(contacts)).all()
        cart = conn.execute(select(carts)).one()
    assert contact.email == "marie.dupont@example.fr"
    assert contact.email_consent is None  # a tracker signup is not consent
    assert (cart.external_id, str(cart.total), cart.item_count) == (f"tracker-{cookie['value']}", "29.0000", 2)
    product = next(row for row in stored_events(engine) if row.name == "product_viewed")
    assert product.properties["product_id"] == "93"
    assert product.properties["name"] == "Woo Single #1"
    assert all(row.source == "tracker" for row in stored_events(engine))


def test_a_block_theme_product_page_gives_the_product_name_not_the_page_title(stage):
    # issue 11: on WooCommerce 10's default block theme the tracker recorded "Café Moka 250g – Relance Test Shop"
    page = stage["browser"].new_page()
    answered: list[str] = []
    page.on(
        "response",
        lambda r: answered.append(r.request.post_data or "") if "/collect/shop" in r.url and r.status == 204 else None,
    )
    page.goto(stage["shop"].url + "/product/cafe-moka-250g/")
    for _ in range(200):
        if "product_viewed" in "".join(answered):
            break
        page.wait_for_timeout(25)
    process(stage)
    product = next(row for row in stored_events(stage["engine"]) if row.name == "product_viewed")
    assert (product.properties["product_id"], product.properties["name"]) == ("11", "Café Moka 250g")


def test_do_not_track_sends_nothing(stage):
    context = stage["browser"].new_context()
    context.add_init_script("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'});")
    page = context.new_page()
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/collect/" in request.url else None)
    page.goto(stage["shop"].url + "/product/woo-single-1/")
    page.wait_for_function("window.__relanceTracker === true")
    page.fill("#nl-email", "someone@example.fr")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert sent == []
    assert not [c for c in context.cookies() if c["name"] == "_relance_id"]
    with stage["engine"].connect() as conn:
        assert conn.execute(select(deliveries)).all() == []


def test_nothing_is_sent_or_stored_before_the_shop_gives_consent(stage):
    stage["shop"].tenant = "consent"
    page = stage["browser"].new_page()
    sent = []
    page.on("request", lambda request: sent.append(request.url) if "/collect/" in request.url else None)
    page.goto(stage["shop"].url + "/product/woo-single-1/")
    page.wait_for_function("window.__relanceTracker === true")
    page.wait_for_load_state("networkidle")
    assert sent == []
    assert not [c for c in page.context.cookies() if c["name"] == "_relance_id"]
    with page.expect_response(lambda r: "/collect/consent" in r.url and r.request.method == "POST") as answer:
        page.evaluate("relance('consent', true)")
    assert answer.value.status == 204
    assert [c for c in page.context.cookies() if c["name"] == "_relance_id"]
    process(stage)
    assert "page_viewed" in [row.name for row in stored_events(stage["engine"])]
