"""Benchmark: a first sync of each platform's fake shop on loopback, against the raw download of the same pages.

    .venv/bin/python bench/connectors_sync.py                        # 3 platforms x 2 databases x 10k and 100k
    .venv/bin/python bench/connectors_sync.py --sizes 10000 --platforms woocommerce --db sqlite --repeat 3

For each size and platform the platform's fake shop (``bench/connectors_sync.py``
for WooCommerce, ``bench/magento_sync.py``, ``bench/prestashop_sync.py``) runs in
its own process, and for each database a download (A) and a sync (B) alternate
``--repeat`` times (ABAB), each in a fresh process so that its peak RSS is its own:

- ``download`` (the baseline): every page of the synced resources fetched and
  JSON-decoded by the platform's HTTP client, nothing else;
- ``requests`` (a second baseline): every HTTP request the sync's connector
  makes, recorded once by a fetch without the store (a PrestaShop order page
  also asks for its customers and invoice addresses by id, a customer page
  for its addresses; Magento and WooCommerce for product details), replayed
  in order by a plain ``requests.Session`` and JSON-decoded as the connectors
  decode (``parse_float=Decimal``), nothing else: the bare download of exactly
  the pages the sync needs;
- ``sync``: ``connectors.sync.run_sync`` into a fresh database (PostgreSQL
  database ``relance_bench_sync``, created and dropped; or a SQLite file): a
  first sync, so a backfill (``core.pipeline.ingest_page(backfill=True)``), with
  every reaction on and the end-of-run segment, metrics and prediction refresh
  (``core.operations.finish_backfill``) included in its time.

Printed per platform, database and size: records, median seconds of each, the
sync's records/s and peak RSS, and min / median / max of the ratio sync ÷
download and sync ÷ requests of each triple (download, requests, sync
alternated). ``--compare-serial`` also runs, in each pair, the same
sync with the connector's pages fetched in the storing thread (without
``connectors.prefetch``) and prints min / median / max of sync ÷ serial; ``--compare-thread`` the same
sync with its pages produced in a thread rather than a forked child (``RELANCE_SYNC_PRODUCER=thread``),
printing sync ÷ thread. ``--latency MS`` makes every answer of the fake shops wait that long first, as a
real shop's PHP does (loopback without it measures the machine's CPU more than a shop: the fake shops
answer a page in a few milliseconds). Peak RSS is the sync's process and, after a ``+``, its largest
forked page producer's. Goals (issue 13): median ≤ 3 on PostgreSQL, ≤ 2 on SQLite; peak RSS flat from 10k to
100k orders.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = os.environ.get("RELANCE_BENCH_PG_DB", "relance_bench_sync")
KEY, SECRET = "ck_bench", "cs_bench"


def _serve(orders: int, ready: multiprocessing.Queue, latency: float = 0.0) -> None:
    from connectors.woocommerce.fakedata import generate_shop
    from connectors.woocommerce.fakeshop import serve

    server, url = serve(generate_shop(orders, consumer_key=KEY, consumer_secret=SECRET), latency=latency)
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


def _producer_from_env() -> str | None:
    """``RELANCE_SYNC_PRODUCER`` as ``relance`` reads it (``--compare-thread`` sets it for the thread runs)."""
    return os.environ.get("RELANCE_SYNC_PRODUCER") or None


def _children_peak_mb() -> float:
    """The peak RSS of the largest child process that ended (the sync's forked page producer)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def _heap_mb() -> float:
    """Peak of the Python heap since ``tracemalloc.start()`` (download and fetch only: it slows a sync)."""
    return tracemalloc.get_traced_memory()[1] / 1024 / 1024


def child_download(url: str) -> dict:
    from connectors.woocommerce.client import WooClient

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
    return {"records": records, "seconds": seconds, "peak_mb": _peak_mb()}


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
        report = run_sync(
            engine, tenant, from_tenant(config), clock=lambda: datetime.now(UTC), producer=_producer_from_env()
        )
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
        "child_mb": _children_peak_mb(),
    }


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


def _drop_pg(database: str = PG_DB) -> None:
    import sqlalchemy as sa

    from core.store.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


PLATFORMS = {
    "woocommerce": ROOT / "bench" / "connectors_sync.py",
    "magento": ROOT / "bench" / "magento_sync.py",
    "prestashop": ROOT / "bench" / "prestashop_sync.py",
}


# Runs a bench script with the sync's pages fetched and stored in one thread, as before connectors.prefetch.
_SERIAL = (
    "import contextlib, runpy, sys; import connectors.sync as sync; "
    "sync._producer = lambda name: lambda produce, **kw: contextlib.nullcontext(produce()); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


# Runs a bench script's fetch (no store) recording every request its connector sends (for ``child_replay``).
_RECORD = (
    "import atexit, base64, json, os, runpy, sys, requests; recorded = []; send = requests.Session.send\n"
    "def record(self, request, **kw):\n"
    "    body = request.body.encode() if isinstance(request.body, str) else request.body\n"
    "    recorded.append([request.method, request.url, dict(request.headers), "
    "base64.b64encode(body).decode() if body else None])\n"
    "    return send(self, request, **kw)\n"
    "requests.Session.send = record\n"
    "atexit.register(lambda: open(os.environ['RELANCE_BENCH_RECORD'], 'w').write(json.dumps(recorded)))\n"
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)
#: The child of each platform's script that fetches and maps every resource without storing it.
_FETCH = {"woocommerce": "fetch", "magento": "map", "prestashop": "fetch"}


def child_replay(path: str) -> dict:
    """Send every recorded request again, in order, and decode each answer: nothing else."""
    import base64

    import requests

    from connectors.http import decode_json

    recorded = json.loads(Path(path).read_text())
    session = requests.Session()
    started = time.perf_counter()
    for method, url, headers, body in recorded:
        request = requests.Request(method, url, headers=headers, data=base64.b64decode(body) if body else None)
        response = session.send(session.prepare_request(request), timeout=120)
        response.raise_for_status()
        decode_json(response)
    return {"requests": len(recorded), "seconds": time.perf_counter() - started, "peak_mb": _peak_mb()}


def _record(platform: str, url: str, workdir: Path) -> Path:
    """Record the requests of one fetch of every resource (not timed) into a file for ``child_replay``."""
    path = workdir / f"requests-{platform}.json"
    command = [sys.executable, "-c", _RECORD, str(PLATFORMS[platform]), "--child", _FETCH[platform], url]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "RELANCE_BENCH_RECORD": str(path)},
    )
    return path


def _child(script: Path, *args: str, serial: bool = False, producer: str | None = None) -> dict:
    """Run one measurement in a fresh process (its peak RSS is its own) and return what it printed.
    ``serial``: without a producer (``--compare-serial``); ``producer``: ``RELANCE_SYNC_PRODUCER``
    (``--compare-thread``; else the default: a forked child on Linux)."""
    command = [sys.executable, *(["-c", _SERIAL] if serial else []), str(script), "--child", *args]
    env = {**os.environ, **({"RELANCE_SYNC_PRODUCER": producer} if producer else {})}
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _shop(platform: str, orders: int, context: Any, latency: float = 0.0) -> tuple[Any, str]:
    """Start the platform's fake shop with ``orders`` orders in its own process; return it and its URL.
    ``latency``: seconds each of its answers waits first (a real shop's response time)."""
    import importlib

    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))  # the spawned shop process imports the module by name too
    module = importlib.import_module(PLATFORMS[platform].stem)
    ready = context.Queue()
    server = context.Process(target=module._serve, args=(orders, ready, latency), daemon=True)
    server.start()
    return server, ready.get(timeout=600)


def _rss(syncs: list[dict]) -> str:
    """Peak RSS of the sync's process, and of its page producer's when it forked one: ``store+producer``."""
    peak = max(r["peak_mb"] for r in syncs)
    child = max(r.get("child_mb", 0.0) for r in syncs)
    return f"{peak:.0f}+{child:.0f}" if child else f"{peak:.0f}"


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="numbers of orders, comma-separated")
    parser.add_argument("--platforms", default="woocommerce,magento,prestashop")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="download/sync pairs per measurement (ABAB)")
    parser.add_argument(
        "--compare-serial",
        action="store_true",
        help="also run each sync without the prefetch thread (download, serial, sync alternated) and print "
        "sync ÷ serial",
    )
    parser.add_argument(
        "--compare-thread",
        action="store_true",
        help="also run each sync with its pages produced in a thread rather than a forked child (download, "
        "thread, sync alternated) and print sync ÷ thread",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="milliseconds each of the fake shop's answers waits first, as a real shop takes to answer "
        "(default 0: loopback, the shops' CPU only)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    platforms = args.platforms.split(",")
    databases = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    print(
        f"First sync ÷ download of the same pages: platforms {platforms}, sizes {sizes} orders, databases "
        f"{databases}; download (A), every request of the sync replayed (A2) and sync (B) alternated, "
        f"{args.repeat} triples, ratios min / median / max"
        + (f"; every answer of the shops {args.latency:g} ms late" if args.latency else "")
    )
    print(
        f"{'platform':<12} {'db':<10} {'orders':>7} {'records':>8} {'dl s':>7} {'sync s':>7} {'sync rec/s':>10} "
        f"{'sync RSS MB':>11} {'sync ÷ download (min / median / max)':>36} {'requests':>8} {'req s':>6} "
        f"{'sync ÷ requests (min / median / max)':>36}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    context = multiprocessing.get_context("spawn")
    try:
        for size in sizes:
            for platform in platforms:
                script = PLATFORMS[platform]
                server, url = _shop(platform, size, context, args.latency / 1000)
                try:
                    recorded = _record(platform, url, workdir)
                    for db in databases:
                        ratios, downloads, syncs, gains, replays, by_requests = [], [], [], [], [], []
                        by_thread: list[float] = []
                        for _ in range(args.repeat):
                            downloads.append(_child(script, "download", url))
                            replays.append(_child(ROOT / "bench" / "connectors_sync.py", "replay", str(recorded)))
                            if args.compare_serial:
                                serial = _child(script, "sync", url, _fresh_db(db, workdir), serial=True)
                            if args.compare_thread:
                                thread = _child(script, "sync", url, _fresh_db(db, workdir), producer="thread")
                            syncs.append(_child(script, "sync", url, _fresh_db(db, workdir)))
                            if args.compare_thread:
                                by_thread.append(syncs[-1]["seconds"] / thread["seconds"])
                            ratios.append(syncs[-1]["seconds"] / downloads[-1]["seconds"])
                            by_requests.append(syncs[-1]["seconds"] / replays[-1]["seconds"])
                            if args.compare_serial:
                                gains.append(syncs[-1]["seconds"] / serial["seconds"])
                        assert all(run["ok"] for run in syncs), syncs
                        records = syncs[-1]["records"]
                        sync_s = statistics.median(r["seconds"] for r in syncs)
                        print(
                            f"{platform:<12} {db:<10} {size:>7} {records:>8} "
                            f"{statistics.median(r['seconds'] for r in downloads):>7.1f} {sync_s:>7.1f} "
                            f"{records / sync_s:>10.0f} {_rss(syncs):>11} "
                            f"{_spread(ratios):>36} {replays[-1]['requests']:>8} "
                            f"{statistics.median(r['seconds'] for r in replays):>6.1f} {_spread(by_requests):>36}"
                            + (f"   sync ÷ serial {_spread(gains)}" if gains else "")
                            + (f"   sync ÷ thread {_spread(by_thread)}" if by_thread else ""),
                            flush=True,
                        )
                finally:
                    server.terminate()
                    server.join(10)
    finally:
        if "postgresql" in databases:
            _drop_pg()
        for path in workdir.iterdir():  # the SQLite files, the recorded requests
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, *rest = sys.argv[2:]
        result = {"download": child_download, "fetch": child_fetch, "sync": child_sync, "replay": child_replay}[kind](
            *rest
        )
        print(json.dumps(result))
    else:
        main()
