"""Benchmark: a Magento 2 sync of a generated shop on loopback, against the raw download as baseline.

    /tmp/venv/bin/python bench/magento_sync.py                        # default: about 2 minutes
    /tmp/venv/bin/python bench/magento_sync.py --sizes 10000,100000 --db postgresql --reactions both
    /tmp/venv/bin/python bench/magento_sync.py --sizes 10000,100000 --db none   # the connector alone

A fake Magento REST API (below) serves N orders (a third of them with a
configurable parent row and its child row, three orders per second of
``updated_at`` so that ties are the rule), 2N/5 customers with a default
billing address, 60 products and a few categories, with Magento's own list
rules: ``searchCriteria`` filter groups (ANDed, filters inside ORed),
``sortOrders``, ``pageSize``/``currentPage`` with a page past the end answered
with the last page again, ``total_count``. Records are generated from their
index, so the server holds nothing and answers any page in the same time.
For each size, each measurement runs in a fresh process (its peak RSS is its
own):

- ``download``: every page of customers and orders fetched by ``currentPage``
  and JSON-decoded (Decimal) by the same HTTP client, nothing else (the baseline);
- ``fetch+map``: the connector's keyset pages mapped to events, not stored;
- ``sync``: ``connectors.sync.run_sync`` of products, customers, carts and
  orders into a fresh database (PostgreSQL database ``relance_bench_magento``,
  created and dropped; or a SQLite file), through the whole pipeline (the
  flows' and segments' reactions included); ``sync ... bare``
  (``--reactions off|both``) without those reactions.

Printed per size: records fetched, seconds, records/s, peak RSS (MB), and the
ratio to the download. Memory must stay flat as N grows (pages are streamed and
stored one by one), and records/s too (every page is a keyset page: page 1
after the cursor, never a growing offset).
"""

from __future__ import annotations

import argparse
import bisect
import json
import multiprocessing
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = "relance_bench_magento"
TOKEN = "benchtoken0123456789abcdefghijkl"
PRODUCTS = 60
START = datetime(2024, 1, 1, tzinfo=UTC)
CATEGORIES = [
    {"id": 1, "parent_id": 0, "name": "Root Catalog", "level": 0, "is_active": True},
    {"id": 2, "parent_id": 1, "name": "Default Category", "level": 1, "is_active": True},
    {"id": 3, "parent_id": 2, "name": "Vêtements", "level": 2, "is_active": True},
    {"id": 4, "parent_id": 3, "name": "Chemises & Hauts", "level": 3, "is_active": True},
]
BRANDS = [{"label": " ", "value": ""}, {"label": "Maison Lumière", "value": "12"}]


def _time(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


class GeneratedShop:
    """Records by index (entity id = index): ``updated_at`` never decreases with the id."""

    STEP = {"orders": lambda i: (i // 3) * 5, "customers/search": lambda i: i * 7, "products": lambda i: i}

    def __init__(self, orders: int) -> None:
        self.counts = {"orders": orders, "customers/search": max(1, orders * 2 // 5), "products": PRODUCTS}

    def updated(self, endpoint: str, i: int) -> str:
        return _time(self.STEP[endpoint](i))

    def record(self, endpoint: str, i: int) -> dict[str, Any]:
        return {"orders": self.order, "customers/search": self.customer, "products": self.product}[endpoint](i)

    def order(self, i: int) -> dict[str, Any]:
        customer = 1 + i % self.counts["customers/search"]
        at = self.updated("orders", i)
        rows: list[dict[str, Any]] = [
            {"item_id": i * 3, "order_id": i, "sku": "CHEM-M-BLEU" if i % 3 == 0 else f"SKU{i % PRODUCTS}",
             "name": "Chemise lin & coton", "product_id": 1 + i % PRODUCTS,
             "product_type": "configurable" if i % 3 == 0 else "simple", "qty_ordered": 1 + i % 2,
             "price": 49.9, "base_price": 49.9, "row_total": 49.9 * (1 + i % 2), "tax_amount": 0,
             "created_at": at, "updated_at": at},
        ]  # fmt: skip
        if i % 3 == 0:
            child = {**rows[0], "item_id": i * 3 + 1, "product_id": 100 + i % 7, "product_type": "simple",
                     "price": 0, "base_price": 0, "row_total": 0, "parent_item_id": i * 3}  # fmt: skip
            child["parent_item"] = dict(rows[0])
            rows.append(child)
        total = round(49.9 * (1 + i % 2) + 5, 2)
        guest = i % 10 == 0
        order = {
            "entity_id": i, "increment_id": f"{i:09d}", "state": ("processing", "complete", "new", "canceled")[i % 4],
            "status": ("processing", "complete", "pending", "canceled")[i % 4], "created_at": at, "updated_at": at,
            "customer_email": f"client.{customer}@example.fr", "customer_firstname": "Chloé",
            "customer_lastname": f"Client {customer}", "customer_group_id": 0 if guest else 1,
            "customer_is_guest": int(guest), "grand_total": total, "base_grand_total": total, "subtotal": total - 5,
            "shipping_amount": 5, "total_paid": total if i % 4 in (0, 1) else 0, "order_currency_code": "EUR",
            "base_currency_code": "EUR", "quote_id": i, "store_id": 1, "items": rows,
            "billing_address": {"address_type": "billing", "city": "Lyon", "country_id": "FR",
                                "email": f"client.{customer}@example.fr", "entity_id": i, "firstname": "Chloé",
                                "lastname": f"Client {customer}", "parent_id": i, "postcode": "69002",
                                "street": ["1 rue de la République"], "telephone": f"06{customer % 100000000:08d}"},
            "payment": {"method": "checkmo", "amount_ordered": total, "cc_last4": None},
            "status_histories": [],
        }  # fmt: skip
        if not guest:
            order["customer_id"] = customer
        return order

    def customer(self, i: int) -> dict[str, Any]:
        at = self.updated("customers/search", i)
        return {
            "id": i, "group_id": 1, "default_billing": str(i), "default_shipping": str(i), "created_at": at,
            "updated_at": at, "created_in": "Default Store View", "dob": "1990-05-17" if i % 4 else None,
            "email": f"client.{i}@example.fr", "firstname": "Chloé", "lastname": f"Client {i}", "gender": 1 + i % 2,
            "store_id": 1, "website_id": 1,
            "addresses": [{"id": i, "customer_id": i, "country_id": "FR", "street": ["1 rue de la République"],
                           "telephone": f"06{i % 100000000:08d}", "postcode": "69002", "city": "Lyon",
                           "firstname": "Chloé", "lastname": f"Client {i}", "default_billing": True,
                           "default_shipping": True}],
            "disable_auto_group_change": 0, "extension_attributes": {"is_subscribed": bool(i % 2)},
        }  # fmt: skip

    def product(self, i: int) -> dict[str, Any]:
        return {
            "id": i, "sku": f"SKU{i}", "name": f"Produit n°{i}", "price": 49.9, "status": 1, "visibility": 4,
            "type_id": "simple", "created_at": _time(0), "updated_at": self.updated("products", i),
            "extension_attributes": {"website_ids": [1], "category_links": [{"position": 0, "category_id": "4"}]},
            "product_links": [{"sku": f"SKU{i}", "link_type": "crosssell", "linked_product_sku": f"SKU{1 + i % PRODUCTS}",
                               "linked_product_type": "simple", "position": 0}],
            "media_gallery_entries": [{"id": i, "media_type": "image", "position": 1, "disabled": False,
                                       "types": ["image"], "file": f"/p/{i}.jpg"}],
            "custom_attributes": [{"attribute_code": "manufacturer", "value": "12"},
                                  {"attribute_code": "url_key", "value": f"produit-{i}"}],
        }  # fmt: skip

    def search(self, endpoint: str, params: dict[str, str]) -> dict[str, Any]:
        groups: dict[str, list[tuple[str, str, str]]] = {}
        for key, value in params.items():
            found = re.fullmatch(r"searchCriteria\[filter_groups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(\w+)\]", key)
            if found:
                groups.setdefault(found[1], []).append((found[2], found[3], value))
        filters = []
        for entries in groups.values():
            by_index: dict[str, dict[str, str]] = {}
            for index, part, value in entries:
                by_index.setdefault(index, {})[part] = value
            filters.append([(f["field"], f["condition_type"], f["value"]) for f in by_index.values()])
        size = int(params.get("searchCriteria[pageSize]", "20"))
        page = int(params.get("searchCriteria[currentPage]", "1"))
        if endpoint == "categories/list":
            return {"items": CATEGORIES, "search_criteria": {}, "total_count": len(CATEGORIES)}
        if endpoint == "carts/search" or endpoint not in self.counts:
            return {"items": [], "search_criteria": {}, "total_count": 0}
        count = self.counts[endpoint]
        wanted = [f for group in filters for f in group if f[0] in ("sku", "type_id")]
        if wanted:  # product lookups by SKU (cross-sells) or configurables (none here)
            skus = set(wanted[0][2].split(",")) if wanted[0][0] == "sku" else set()
            items = [self.product(i) for i in range(1, PRODUCTS + 1) if f"SKU{i}" in skus]
            return {"items": items, "search_criteria": {}, "total_count": len(items)}
        first, last = 1, count
        key = lambda i: (self.updated(endpoint, i), i)  # noqa: E731
        for group in filters:
            if len(group) == 1 and group[0][:2] == ("updated_at", "lteq"):
                last = bisect.bisect_right(range(1, count + 1), (group[0][2], count + 1), key=key)
            elif len(group) == 2:  # updated_at > T OR entity_id > N: after (T, N)
                (_, _, at), (_, _, after) = group
                first = max(first, 1 + bisect.bisect_right(range(1, count + 1), (at, int(after)), key=key))
        total = max(0, last - first + 1)
        pages = max(1, -(-total // size))
        page = min(max(page, 1), pages)  # Magento clamps
        start = first + (page - 1) * size
        items = [self.record(endpoint, i) for i in range(start, min(last, start + size - 1) + 1)]
        return {"items": items, "search_criteria": {"page_size": size, "current_page": page}, "total_count": total}


def _serve(orders: int, ready: multiprocessing.Queue, latency: float = 0.0) -> None:
    """Serve a generated shop; ``latency``: seconds each answer waits first (a real shop's response time)."""
    shop = GeneratedShop(orders)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if latency:
                time.sleep(latency)
            parts = urlsplit(self.path)
            endpoint = parts.path.split("/V1/", 1)[-1]
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, answer = 401, {"message": "The consumer isn't authorized to access %resources."}
            elif endpoint.startswith("products/attributes/"):
                status, answer = 200, BRANDS
            else:
                status, answer = 200, shop.search(endpoint, dict(parse_qsl(parts.query, keep_blank_values=True)))
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ready.put(f"http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()


def _config(url: str) -> Any:
    from core.sections import validate_tenant

    return validate_tenant(
        {
            "name": "bench",
            "platform": "magento",
            "url": url,
            "timezone": "Europe/Paris",
            "credentials": {"access_token": TOKEN},
            "sync": {"timeout_seconds": 120},
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_download(url: str) -> dict[str, Any]:
    from connectors.magento.client import MagentoClient

    client = MagentoClient(url, TOKEN, tenant="bench", timeout=120)
    records = 0
    started = time.perf_counter()
    for endpoint in ("customers/search", "orders"):
        for page in client.iter_pages(endpoint, sort=[("entity_id", "ASC")], page_size=100):
            records += len(page.items)
    return {"records": records, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_map(url: str) -> dict[str, Any]:
    from connectors.base import Resource
    from connectors.magento.connector import from_tenant

    connector = from_tenant(_config(url))
    records = events = 0
    now = datetime.now(UTC)
    started = time.perf_counter()
    for name in (Resource.CUSTOMERS, Resource.ORDERS):
        for page in connector.fetch(name, None, now):
            records += page.fetched
            events += len(page.events)
    return {"records": records, "events": events, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_sync(url: str, db_url: str, reactions: str = "on") -> dict[str, Any]:
    from connectors_sync import _children_peak_mb, _producer_from_env  # the bench folder is the script's

    import core.pipeline
    from connectors.magento.connector import from_tenant
    from connectors.sync import run_sync
    from core.store.db import make_engine, migrate
    from core.store.tenants import upsert_tenant

    if reactions == "off":  # the connector and the store alone, without the flows' and segments' reactions
        core.pipeline.reactions = lambda: ()
    else:
        core.pipeline.reactions()  # import the reacting areas before the clock starts
    engine = make_engine(db_url)
    migrate(engine)
    config = _config(url)
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, config, datetime.now(UTC))
    started = time.perf_counter()
    report = run_sync(
        engine,
        tenant,
        from_tenant(config),
        clock=lambda: datetime.now(UTC),
        producer=_producer_from_env(),
    )
    seconds = time.perf_counter() - started
    engine.dispose()
    by = {r.value: s.fetched for r, s in report.resources.items()}
    created = report.totals().created
    return {"records": report.totals().fetched, "created": created, "by": by, "ok": report.ok, "seconds": seconds,
            "peak_mb": _peak_mb(), "child_mb": _children_peak_mb()}  # fmt: skip


def _run_child(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_db(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    _drop_pg(create=True)
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"


def _drop_pg(create: bool = False) -> None:
    import sqlalchemy as sa

    from core.store.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        if create:
            conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,4000", help="numbers of orders, comma-separated")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both", "none"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (medians are printed)")
    parser.add_argument(
        "--reactions",
        choices=("on", "off", "both"),
        default="on",
        help="run the other areas' reactions (flows, segments) on each stored event, as in production",
    )
    args = parser.parse_args()
    modes = ["on", "off"] if args.reactions == "both" else [args.reactions]
    sizes = [int(s) for s in args.sizes.split(",")]
    databases = {"both": ["postgresql", "sqlite"], "none": []}.get(args.db, [args.db])
    print(f"Magento sync benchmark: {sizes} orders (+2/5 customers, 60 products), {args.repeat} run(s) each")
    print(f"{'orders':>7} {'measure':<17} {'records':>8} {'seconds':>8} {'rec/s':>8} {'peak MB':>8} {'x download':>10}")
    workdir = Path(tempfile.mkdtemp(prefix="relance-bench-magento-"))
    context = multiprocessing.get_context("spawn")
    try:
        for size in sizes:
            ready: multiprocessing.Queue = context.Queue()
            server = context.Process(target=_serve, args=(size, ready), daemon=True)
            server.start()
            url = ready.get(timeout=60)
            try:
                rows = [("download", [_run_child("download", url) for _ in range(args.repeat)])]
                rows.append(("fetch+map", [_run_child("map", url) for _ in range(args.repeat)]))
                for db in databases:
                    for mode in modes:
                        name = f"sync {db}" + (" bare" if mode == "off" else "")
                        runs = [_run_child("sync", url, _fresh_db(db, workdir), mode) for _ in range(args.repeat)]
                        rows.append((name, runs))
                base = statistics.median(r["seconds"] for r in rows[0][1])
                for name, runs in rows:
                    seconds = statistics.median(r["seconds"] for r in runs)
                    records = int(statistics.median(r["records"] for r in runs))
                    peak = statistics.median(r["peak_mb"] for r in runs)
                    print(
                        f"{size:>7} {name:<17} {records:>8} {seconds:>8.2f} {records / seconds:>8.0f} "
                        f"{peak:>8.1f} {seconds / base:>10.1f}",
                        flush=True,
                    )
                    if not all(r.get("ok", True) for r in runs):
                        print(f"        {name}: the sync reported errors", flush=True)
            finally:
                server.terminate()
                server.join(10)
    finally:
        if "postgresql" in databases:
            _drop_pg()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        result = {"download": child_download, "map": child_map, "sync": child_sync}[kind](*rest)
        print(json.dumps(result))
    else:
        main()
