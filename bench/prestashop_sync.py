"""Benchmark: a PrestaShop sync of a generated shop on loopback, against the raw download as baseline.

    /tmp/venv/bin/python bench/prestashop_sync.py                       # default: about 2 minutes
    /tmp/venv/bin/python bench/prestashop_sync.py --sizes 10000,100000 --db postgresql

A fake PrestaShop webservice (below) serves N orders (one to three rows each,
three orders per second of ``date_upd``, so ties are the rule), 2N/5 customers
with one address each, and 60 products, with the webservice's own list rules:
``filter[date_upd]=[from,to]`` with ``date=1``, ``sort=[date_upd_ASC,id_ASC]``,
``limit=offset,count``, ``filter[id]=[a|b|c]``, ``[]`` for an empty list. Records
are generated from their index, so the server holds nothing and answers any
page in the same time. For each size, each measurement runs in a fresh process
(its peak RSS is its own):

- ``download``: every page of customers and orders fetched with ``limit`` and
  JSON-decoded (Decimal) by the same HTTP client, nothing else (the baseline);
- ``fetch+map``: the connector's pages (with their bulk lookups of customers,
  addresses and products) mapped to events, not stored;
- ``sync``: ``connectors.sync.run_sync`` of customers, products, orders and
  carts into a fresh database (SQLite file, or the PostgreSQL database
  ``relance_bench_ps``, created and dropped), for sizes up to ``--sync-max``:
  storing goes through the whole ingest pipeline (contacts, flows, segments)
  and costs far more than reading the shop.

Printed per size: records fetched, seconds, records/s, peak RSS (MB), and the
ratio to the download. Memory must stay flat as N grows (pages are streamed and
stored one by one), and records/s too (every page is a keyset page).
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
PG_DB = "relance_bench_ps"
KEY = "BENCHKEY0123456789ABCDEFGHIJKLMN"
PRODUCTS = 60
START = datetime(2024, 1, 1)  # shop-local


def _local(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


class GeneratedShop:
    """Records by index (id = index): ``date_upd`` never decreases with the id."""

    def __init__(self, orders: int) -> None:
        self.counts = {"orders": orders, "customers": max(1, orders * 2 // 5), "products": PRODUCTS}

    def date(self, resource: str, i: int) -> str:
        return _local({"orders": (i // 3) * 5, "customers": i * 7, "products": i}[resource])

    def record(self, resource: str, i: int) -> dict[str, Any]:
        return getattr(self, {"addresses": "address"}.get(resource, resource[:-1]))(i)

    def order(self, i: int) -> dict[str, Any]:
        customer = 1 + i % self.counts["customers"]
        rows = [
            {
                "id": i * 3 + n,
                "product_id": 1 + (i + n * 7) % PRODUCTS,
                "product_attribute_id": n,
                "product_quantity": 1 + n,
                "product_name": f"Produit n°{1 + (i + n * 7) % PRODUCTS} - Taille : M",
                "product_reference": f"REF{(i + n * 7) % PRODUCTS}",
                "product_price": "20.000000",
                "id_customization": 0,
                "unit_price_tax_incl": "24.000000",
                "unit_price_tax_excl": "20.000000",
            }
            for n in range(1 + i % 3)
        ]
        total = sum(24 * (1 + n) for n in range(len(rows))) + 6
        return {
            "id": i, "id_address_delivery": customer, "id_address_invoice": customer, "id_cart": i,
            "id_currency": 1, "id_lang": 1, "id_customer": customer, "id_carrier": 2,
            "current_state": 1 + i % 5, "module": "ps_checkpayment", "invoice_number": i,
            "invoice_date": "0000-00-00 00:00:00", "valid": "1", "date_add": self.date("orders", i),
            "date_upd": self.date("orders", i), "secure_key": "0" * 32, "payment": "Chèque",
            "total_paid": f"{total}.000000", "total_paid_tax_incl": f"{total}.000000",
            "total_paid_tax_excl": f"{total / 1.2:.6f}", "total_shipping": "6.000000",
            "conversion_rate": "1.000000", "reference": f"REF{i:08d}", "associations": {"order_rows": rows},
        }  # fmt: skip

    def customer(self, i: int) -> dict[str, Any]:
        return {
            "id": i, "id_default_group": 3, "id_lang": 1, "id_gender": 1 + i % 2, "email": f"client.{i}@example.fr",
            "firstname": "Chloé", "lastname": f"Client {i}", "birthday": "1990-05-17" if i % 4 else "0000-00-00",
            "newsletter": str(i % 2), "newsletter_date_add": "2023-06-01 10:00:00" if i % 2 else "0000-00-00 00:00:00",
            "optin": "0", "is_guest": str(int(i % 10 == 0)), "deleted": "0", "active": "1",
            "date_add": self.date("customers", i), "date_upd": self.date("customers", i),
        }  # fmt: skip

    def address(self, i: int) -> dict[str, Any]:
        return {
            "id": i, "id_customer": i, "id_country": 8, "firstname": "Chloé", "lastname": f"Client {i}",
            "city": "Lyon", "phone": "", "phone_mobile": f"06{i % 100000000:08d}", "deleted": "0",
            "date_upd": self.date("customers", i),
        }  # fmt: skip

    def product(self, i: int) -> dict[str, Any]:
        return {
            "id": i, "id_manufacturer": 1, "manufacturer_name": "Studio Design", "id_category_default": 3,
            "id_default_image": i, "reference": f"REF{i}", "price": "20.000000", "active": "1",
            "available_for_order": "1", "date_upd": self.date("products", i), "name": f"Produit n°{i}",
            "associations": {"categories": [{"id": "2"}, {"id": "3"}], "accessories": [{"id": str(1 + i % PRODUCTS)}]},
        }  # fmt: skip

    SMALL = {
        "currencies": [{"id": 1, "iso_code": "EUR"}],
        "countries": [{"id": 8, "iso_code": "FR"}],
        "languages": [{"id": 1, "locale": "fr-FR", "language_code": "fr", "iso_code": "fr"}],
        "genders": [{"id": 1, "type": "0", "name": "M"}, {"id": 2, "type": "1", "name": "Mme"}],
        "groups": [{"id": 3, "name": "Client"}],
        "order_states": [
            {"id": 1, "paid": "1", "logable": "1", "shipped": "0", "name": "Paiement accepté", "template": "payment"},
            {"id": 2, "paid": "1", "logable": "1", "shipped": "1", "name": "Livré", "template": ""},
            {"id": 3, "paid": "0", "logable": "0", "shipped": "0", "name": "Annulé", "template": "order_canceled"},
            {"id": 4, "paid": "0", "logable": "0", "shipped": "0", "name": "En attente", "template": "bankwire"},
            {"id": 5, "paid": "0", "logable": "0", "shipped": "0", "name": "Remboursé", "template": "refund"},
        ],
        "categories": [
            {"id": 2, "name": "Accueil", "level_depth": 1},
            {"id": 3, "name": "Vêtements", "level_depth": 2},
        ],
        "manufacturers": [{"id": 1, "name": "Studio Design"}],
        "stock_availables": [],
        "carts": [],
    }

    def answer(self, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
        filters = {k for k in params if k.startswith("filter[")}
        if resource in self.SMALL:
            if not filters:
                return list(self.SMALL[resource])
            wanted = set(params.get("filter[id]", "[]").strip("[]").split("|"))
            return [r for r in self.SMALL[resource] if filters == {"filter[id]"} and str(r["id"]) in wanted]
        count = self.counts["customers" if resource == "addresses" else resource]
        if filters - {"filter[id]", "filter[id_customer]", "filter[date_upd]"}:
            return []  # e.g. orders?filter[id_cart]: the shop has no carts
        ids = params.get("filter[id]") or params.get("filter[id_customer]")
        if ids:
            wanted = [int(v) for v in ids.strip("[]").split("|")]
            return [self.record(resource, i) for i in wanted if 1 <= i <= count]
        offset, size = (int(v) for v in params.get("limit", f"0,{count}").split(","))
        first, last = 1, count
        interval = re.fullmatch(r"\[(.+),(.+)\]", params.get("filter[date_upd]", ""))
        if interval:
            low, high = sorted(interval.groups())
            first = 1 + bisect.bisect_left(range(1, count + 1), low, key=lambda i: self.date(resource, i))
            last = bisect.bisect_right(range(1, count + 1), high, key=lambda i: self.date(resource, i))
        start = first + offset
        return [self.record(resource, i) for i in range(start, min(last, start + size - 1) + 1)]


def _serve(orders: int, ready: multiprocessing.Queue, latency: float = 0.0) -> None:
    """Serve a generated shop; ``latency``: seconds each answer waits first (a real shop's response time)."""
    shop = GeneratedShop(orders)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if latency:
                time.sleep(latency)
            parts = urlsplit(self.path)
            resource = parts.path.rstrip("/").rsplit("/", 1)[-1]
            records = shop.answer(resource, dict(parse_qsl(parts.query)))
            body = json.dumps({resource: records} if records else [], ensure_ascii=False).encode()
            self.send_response(200)
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
            "platform": "prestashop",
            "url": url,
            "timezone": "Europe/Paris",
            "credentials": {"api_key": KEY},
            "sync": {"timeout_seconds": 120},
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_download(url: str) -> dict[str, Any]:
    from connectors.http import HttpClient

    http = HttpClient(f"{url}/api", "bench", timeout=120, auth=(KEY, ""), base_params={"output_format": "JSON"})
    records = 0
    started = time.perf_counter()
    for name in ("customers", "orders"):
        offset = 0
        while True:
            data, _ = http.get_json(name, {"display": "full", "limit": f"{offset},100", "sort": "[id_ASC]"})
            page = data.get(name, []) if isinstance(data, dict) else []
            records += len(page)
            if len(page) < 100:
                break
            offset += 100
    return {"records": records, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_fetch(url: str) -> dict[str, Any]:
    from connectors.prestashop.connector import from_tenant

    connector = from_tenant(_config(url))
    now = datetime.now(UTC)
    records = events = 0
    started = time.perf_counter()
    for res in connector.resources():
        for page in connector.fetch(res, None, now):
            records += page.fetched
            events += len(page.events)
    return {"records": records, "events": events, "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def child_sync(url: str, db_url: str) -> dict[str, Any]:
    from connectors_sync import _children_peak_mb, _producer_from_env  # the bench folder is the script's

    from connectors.prestashop.connector import from_tenant
    from connectors.sync import run_sync
    from core.store.db import make_engine, migrate
    from core.store.tenants import upsert_tenant

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
    totals = report.totals()
    engine.dispose()
    by = {r.value: s.fetched for r, s in report.resources.items()}
    return {"records": totals.fetched, "by": by, "ok": report.ok, "seconds": seconds, "peak_mb": _peak_mb(),
            "child_mb": _children_peak_mb()}  # fmt: skip


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
    parser.add_argument("--sizes", default="1000,3000,10000", help="numbers of orders, comma-separated")
    parser.add_argument("--sync-max", type=int, default=3000, help="store only sizes up to this (the rest: fetch+map)")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (medians are printed)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    databases = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    print(f"PrestaShop sync benchmark: {sizes} orders (+2/5 customers, 60 products), {args.repeat} run(s) each")
    print(f"{'orders':>7} {'measure':<17} {'records':>8} {'seconds':>8} {'rec/s':>8} {'peak MB':>8} {'x download':>10}")
    workdir = Path(tempfile.mkdtemp(prefix="relance-bench-ps-"))
    context = multiprocessing.get_context("spawn")
    try:
        for size in sizes:
            ready: multiprocessing.Queue = context.Queue()
            server = context.Process(target=_serve, args=(size, ready), daemon=True)
            server.start()
            url = ready.get(timeout=60)
            try:
                rows = [("download", [_run_child("download", url) for _ in range(args.repeat)])]
                rows.append(("fetch+map", [_run_child("fetch", url) for _ in range(args.repeat)]))
                for db in databases if size <= args.sync_max else []:
                    rows.append(
                        (f"sync {db}", [_run_child("sync", url, _fresh_db(db, workdir)) for _ in range(args.repeat)])
                    )
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
        result = {"download": child_download, "fetch": child_fetch, "sync": child_sync}[kind](*rest)
        print(json.dumps(result))
    else:
        main()
