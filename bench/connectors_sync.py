"""Benchmark: a full WooCommerce sync of a fake shop on loopback, against the raw download as baseline.

    /tmp/venv/bin/python bench/connectors_sync.py                      # default: ~2-3 minutes
    /tmp/venv/bin/python bench/connectors_sync.py --sizes 10000,50000,100000 --db postgresql --reactions off

A fake WooCommerce shop (``connectors.woocommerce.fakeshop`` serving
``fakedata.generate_shop(N)``: N orders, 2N/5 customers, 60 products, real paging
headers, OAuth-signed requests over plain HTTP) runs in its own process. For each
size, each measurement runs in a fresh process so that its peak RSS is its own:

- ``download``: every page of orders, customers and products fetched and
  JSON-decoded (Decimal) by the same HTTP client, nothing else (the baseline);
- ``fetch+map``: the connector's keyset pages mapped to events, not stored;
- ``sync``: ``connectors.sync.run_sync`` into a fresh database (PostgreSQL
  database ``relance_bench_sync``, created and dropped; or a SQLite file),
  through the whole pipeline (the flows' and segments' reactions included);
  ``sync ... bare`` (``--reactions off|both``) without those reactions. On
  PostgreSQL a thread runs ``ANALYZE`` every 30 s (``--analyze-every``), as
  autovacuum does on a normal server: the test server runs with autovacuum
  off, and a table loaded from empty without statistics keeps bad plans.

Printed per size: records fetched, seconds, records/s, peak RSS (MB), the peak
of the Python heap (tracemalloc; download and fetch+map only, as it slows a
sync), and the ratio to the download. Memory must stay flat as N grows (pages are streamed),
and records/s too (keyset pages cost the same at order 1 and order 100,000).
Each measurement runs ``--repeat`` times; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = "relance_bench_sync"
KEY, SECRET = "ck_bench", "cs_bench"


def _serve(orders: int, ready: multiprocessing.Queue) -> None:
    from connectors.woocommerce.fakedata import generate_shop
    from connectors.woocommerce.fakeshop import serve

    server, url = serve(generate_shop(orders, consumer_key=KEY, consumer_secret=SECRET))
    ready.put(url)
    while True:
        time.sleep(3600)


def _config(url: str):
    from core.sections import validate_tenant

    return validate_tenant(
        {
            "name": "bench",
            "platform": "woocommerce",
            "url": url,
            "timezone": "Europe/Paris",
            "credentials": {"consumer_key": KEY, "consumer_secret": SECRET},
            "sync": {"birthday_meta_key": "billing_birth_date", "timeout_seconds": 120},
        }
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _heap_mb() -> float:
    """Peak of the Python heap since ``tracemalloc.start()`` (download and fetch only: it slows a sync)."""
    return tracemalloc.get_traced_memory()[1] / 1024 / 1024


def child_download(url: str) -> dict:
    from connectors.woocommerce.client import WooClient

    tracemalloc.start()
    client = WooClient(url, KEY, SECRET, tenant="bench", timeout=120)
    records = 0
    started = time.perf_counter()
    for collection in ("products", "customers", "orders"):
        page_no = 1
        while True:
            page = client.fetch_page(collection, {"per_page": 100, "page": page_no, "orderby": "id", "order": "asc"})
            records += len(page.records)
            if not page.records or (page.total_pages or 0) <= page_no:
                break
            page_no += 1
    seconds = time.perf_counter() - started
    return {"records": records, "seconds": seconds, "peak_mb": _peak_mb(), "heap_mb": _heap_mb()}


def child_fetch(url: str) -> dict:
    from connectors.woocommerce.connector import from_tenant

    connector = from_tenant(_config(url))
    tracemalloc.start()
    now = datetime.now(UTC)
    records = events = 0
    started = time.perf_counter()
    for res in connector.resources():
        for page in connector.fetch(res, None, now):
            records += page.fetched
            events += len(page.events)
    seconds = time.perf_counter() - started
    return {"records": records, "events": events, "seconds": seconds, "peak_mb": _peak_mb(), "heap_mb": _heap_mb()}


def _analyze_every(db_url: str, seconds: float, stop: threading.Event) -> None:
    """Run ANALYZE every ``seconds``, as autovacuum does on a normal PostgreSQL server (the test server here
    runs with ``autovacuum = off``; without statistics the planner keeps the plans of empty tables)."""
    import sqlalchemy as sa

    from core.store.db import make_engine

    engine = make_engine(db_url, isolation_level="AUTOCOMMIT")
    while not stop.wait(seconds):
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def child_sync(url: str, db_url: str, reactions: str = "on", analyze: str = "0") -> dict:
    import core.pipeline
    from connectors.sync import run_sync
    from connectors.woocommerce.connector import from_tenant
    from core.store.db import make_engine, migrate
    from core.store.tenants import upsert_tenant

    if reactions == "off":  # the connector and the store alone, without the flows' and segments' reactions
        core.pipeline.reactions = lambda: ()
    engine = make_engine(db_url)
    migrate(engine)
    config = _config(url)
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, config, datetime.now(UTC))
    stop = threading.Event()
    if float(analyze) > 0 and db_url.startswith("postgresql"):
        threading.Thread(target=_analyze_every, args=(db_url, float(analyze), stop), daemon=True).start()
    started = time.perf_counter()
    try:
        report = run_sync(engine, tenant, from_tenant(config), clock=lambda: datetime.now(UTC))
    finally:
        stop.set()
    seconds = time.perf_counter() - started
    totals = report.totals()
    engine.dispose()
    return {
        "records": totals.fetched,
        "created": totals.created,
        "skipped": totals.skipped,
        "ok": report.ok,
        "seconds": seconds,
        "peak_mb": _peak_mb(),
    }


def _run_child(*args: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fresh_db(kind: str, workdir: Path) -> str:
    if kind == "sqlite":
        path = workdir / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import sqlalchemy as sa

    from core.store.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"


def _drop_pg() -> None:
    import sqlalchemy as sa

    from core.store.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
    admin.dispose()


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,1000,2000", help="numbers of orders, comma-separated")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement (medians are printed)")
    parser.add_argument(
        "--reactions",
        choices=("on", "off", "both"),
        default="on",
        help="run the other areas' reactions (flows, segments) on each stored event, as in production",
    )
    parser.add_argument(
        "--analyze-every",
        type=float,
        default=30.0,
        help="PostgreSQL: ANALYZE every N seconds during a sync, as autovacuum would (0: never)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    databases = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    print(
        f"WooCommerce sync benchmark: sizes {sizes} orders (+2/5 customers, 60 products), {args.repeat} run(s) each; "
        "'bare' = without the flows' and segments' reactions"
    )
    print(
        f"{'orders':>7} {'measure':<22} {'records':>8} {'seconds':>8} {'rec/s':>8} {'RSS MB':>7} {'heap MB':>7} "
        f"{'x download':>10}"
    )
    workdir = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    context = multiprocessing.get_context("spawn")
    try:
        for size in sizes:
            ready: multiprocessing.Queue = context.Queue()
            server = context.Process(target=_serve, args=(size, ready), daemon=True)
            server.start()
            url = ready.get(timeout=60)
            try:
                base = [_run_child("download", url) for _ in range(args.repeat)]
                base_s = _median(base, "seconds")
                rows = [("download", base)]
                rows.append(("fetch+map", [_run_child("fetch", url) for _ in range(args.repeat)]))
                modes = ["on", "off"] if args.reactions == "both" else [args.reactions]
                for db in databases:
                    for mode in modes:
                        runs = [
                            _run_child("sync", url, _fresh_db(db, workdir), mode, str(args.analyze_every))
                            for _ in range(args.repeat)
                        ]
                        rows.append((f"sync {db}" + ("" if mode == "on" else " bare"), runs))
                for name, runs in rows:
                    seconds = _median(runs, "seconds")
                    records = int(_median(runs, "records"))
                    heap = f"{_median(runs, 'heap_mb'):>7.1f}" if "heap_mb" in runs[0] else f"{'-':>7}"
                    print(
                        f"{size:>7} {name:<22} {records:>8} {seconds:>8.2f} {records / seconds:>8.0f} "
                        f"{_median(runs, 'peak_mb'):>7.1f} {heap} {seconds / base_s:>10.1f}",
                        flush=True,
                    )
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
