"""Benchmark: a first sync of the real shops of ``../shared/realstores``, against the bare download of the same pages.

    export RS_DIR=$(mktemp -d) NETNS=relbench                    # as root: the shops live in a network namespace
    ../shared/realstores/up.sh && ../shared/realstores/seed.sh   # a real WooCommerce 10 and PrestaShop 8.1
    .venv/bin/python bench/realstores_sync.py seed --orders 2000 # adds 2,000 orders to each shop (~10 min)
    .venv/bin/python bench/realstores_sync.py --repeat 3         # both shops x PostgreSQL and SQLite

``bench/connectors_sync.py`` measures the sync against fake shops on loopback, which answer a page of 100
orders in a few milliseconds: there the ratio measures this machine's CPU more than a sync. This one syncs
the real shops (PHP 8 on its built-in server with four workers, MariaDB; on the same machine, so their
PHP shares its cores with the sync), as a shop owner's first ``relance sync`` would:

- ``seed --orders N`` adds N orders to each shop the way each shop makes them (WooCommerce through its
  REST API, a customer account for two orders in three and a guest checkout for the rest; PrestaShop with
  its own classes, ``bench/realstores/ps_orders.php``: a customer with an address for every three orders,
  validated by its check payment module), in several statuses; runs add to each other;
- then, for each shop and database, alternated ``--repeat`` times (ABAB), each in a fresh process inside
  the shops' network namespace:

  - ``requests`` (the baseline): every HTTP request the sync's connector makes, recorded once by a
    fetch without the store, replayed in order by a plain ``requests.Session`` and JSON-decoded as the
    connectors decode (``parse_float=Decimal``), nothing else: the bare download of exactly the pages
    the sync needs (a PrestaShop page also needs its customers and addresses by id);
  - ``sync``: ``connectors.sync.run_sync`` into a fresh database (PostgreSQL database
    ``relance_bench_real``, reached through the server's Unix socket from the namespace, created and
    dropped; or a SQLite file), a first sync with every reaction on and the end-of-run refresh of
    segments, metrics and predictions (``core.operations.finish_backfill``) included in its time.

Printed per shop and database: records, median seconds of each, the sync's records/s, and min / median / max
of sync ÷ requests. Goals (issue 13): median ≤ 3 on PostgreSQL, ≤ 2 on SQLite.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_DB = os.environ.get("RELANCE_BENCH_PG_DB", "relance_bench_real")
#: The shops' names in ``tenants.sh``'s tenant file, by platform.
TENANTS = {"woocommerce": "woo", "prestashop": "presta"}
#: WooCommerce's batch endpoints take at most 100 items a request.
WOO_BATCH = 50


def _stores(rs_dir: Path) -> dict[str, str]:
    """The values of ``stores.env`` an ``up.sh`` run wrote (URLs, keys, ``NETNS``)."""
    path = rs_dir / "stores.env"
    if not path.is_file():
        sys.exit(f"error: {path} not found: RS_DIR must be the folder of a realstores up.sh run (see the docstring)")
    values = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


def _tenants(rs_dir: Path) -> dict[str, Any]:
    """The tenant configurations ``tenants.sh`` writes for the shops, validated, by platform."""
    import yaml

    from core.sections import validate_tenant

    script = Path(os.environ.get("RELANCE_REALSTORES", ROOT.parent / "shared" / "realstores")) / "tenants.sh"
    done = subprocess.run(["bash", str(script)], env={**os.environ, "RS_DIR": str(rs_dir)}, capture_output=True,
                          text=True, check=True)  # fmt: skip
    found = {}
    for raw in yaml.safe_load_all(done.stdout):
        raw = {**raw, "sync": {"timeout_seconds": 120}}
        platform = raw["platform"]
        found[platform] = validate_tenant(raw)
    return found


def _in_namespace(netns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", netns, sys.executable, __file__, *args]


# -- seeding -------------------------------------------------------------------------------------------------


def child_seed_woo(orders: str) -> dict[str, Any]:
    """Add ``orders`` orders to the WooCommerce shop through its REST API (read-write keys), in batches."""
    import requests

    wanted = int(orders)
    url = os.environ["WP_URL"].rstrip("/") + "/wp-json/wc/v3"
    session = requests.Session()
    session.auth = (os.environ["WC_CK"], os.environ["WC_CS"])
    session.headers["X-Forwarded-Proto"] = "https"  # up.sh lets Basic auth through over plain http then

    def call(method: str, path: str, **kw: Any) -> Any:
        response = session.request(method, url + path, timeout=600, **kw)
        response.raise_for_status()
        return response.json()

    products = [p["id"] for p in call("GET", "/products", params={"per_page": 100, "status": "publish"})
                if p["type"] == "simple" and p["stock_status"] == "instock"]  # fmt: skip
    start = int(time.time()) % 1_000_000  # names of this run's customers: runs add to each other
    started = time.perf_counter()
    statuses = ["completed", "completed", "processing", "on-hold", "completed", "cancelled", "refunded"]
    made = customers = 0
    while made < wanted:
        size = min(WOO_BATCH, wanted - made)
        # a customer account for two orders in three, a guest checkout for the third
        people = []
        for i in range(size // 3 + 1):
            n = f"{start}{made + i}"
            people.append({"email": f"bench.woo{n}@example.org", "first_name": "Bench", "last_name": f"Client {n}",
                           "username": f"bench{n}", "password": f"pw-bench-{n}",
                           "billing": {"first_name": "Bench", "last_name": f"Client {n}", "country": "FR",
                                       "city": "Lyon", "email": f"bench.woo{n}@example.org",
                                       "phone": f"06{int(n) % 10**8:08d}"}})  # fmt: skip
        created = [c for c in call("POST", "/customers/batch", json={"create": people})["create"] if "id" in c]
        customers += len(created)
        batch = []
        for i in range(size):
            k = made + i
            body: dict[str, Any] = {
                "payment_method": "bacs",
                "payment_method_title": "Virement",
                "set_paid": statuses[k % len(statuses)] != "on-hold",
                "status": statuses[k % len(statuses)],
                "line_items": [
                    {"product_id": products[(k + j) % len(products)], "quantity": 1 + (k + j) % 3}
                    for j in range(1 + k % 3)
                ],
            }
            if k % 3 == 2 or not created:
                body["billing"] = {"first_name": "Guest", "last_name": f"Buyer {start}{k}", "country": "FR",
                                   "city": "Paris", "email": f"guest.woo{start}{k}@example.org"}  # fmt: skip
            else:
                customer = created[(k // 3) % len(created)]
                body["customer_id"] = customer["id"]
                body["billing"] = customer["billing"]
            batch.append(body)
        done = call("POST", "/orders/batch", json={"create": batch})["create"]
        failed = [item["error"] for item in done if "error" in item]
        if failed:
            raise SystemExit(f"error: WooCommerce refused an order: {failed[0]}")
        made += size
    return {"orders": made, "customers": customers, "seconds": round(time.perf_counter() - started, 1)}


def seed(rs_dir: Path, orders: int) -> None:
    """Add ``orders`` orders to each shop, both at once (each shop's PHP on its own)."""
    stores = _stores(rs_dir)
    netns = stores["NETNS"]
    env = {**os.environ, **stores}
    ps_script = ROOT / "bench" / "realstores" / "ps_orders.php"
    first = str(int(time.time()) % 1_000_000 * 10_000)  # PrestaShop's customers of this run
    running = {
        "woocommerce": subprocess.Popen(_in_namespace(netns, "--child", "seed_woo", str(orders)), env=env,
                                        stdout=subprocess.PIPE, text=True),
        "prestashop": subprocess.Popen(["ip", "netns", "exec", netns, "php", "-d", "memory_limit=1G", str(ps_script),
                                        str(rs_dir / "ps"), str(orders), first], stdout=subprocess.PIPE, text=True),
    }  # fmt: skip
    for platform, process in running.items():
        out, _ = process.communicate()
        lines = out.strip().splitlines()
        if process.returncode != 0:
            tail = "\n".join(lines[-20:])
            sys.exit(f"error: seeding {platform} failed (exit {process.returncode}); the end of its output:\n{tail}")
        print(f"{platform}: {lines[-1] if lines else '(no output)'}")


# -- measuring -----------------------------------------------------------------------------------------------


def child_record(platform: str, rs_dir: str, path: str) -> dict[str, Any]:
    """Fetch and map every resource without storing it, recording every request the connector sends."""
    import requests

    from connectors.registry import connector_for

    recorded: list[list[Any]] = []
    send = requests.Session.send

    def record(self: requests.Session, request: requests.PreparedRequest, **kw: Any) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        recorded.append(
            [request.method, request.url, dict(request.headers), base64.b64encode(body).decode() if body else None]
        )
        return send(self, request, **kw)

    requests.Session.send = record  # type: ignore[method-assign]
    connector = connector_for(_tenants(Path(rs_dir))[platform])
    now = datetime.now(UTC)
    records = 0
    for resource in connector.resources():
        for page in connector.fetch(resource, None, now):
            records += page.fetched
    Path(path).write_text(json.dumps(recorded))
    return {"records": records, "requests": len(recorded)}


def child_replay(platform: str, rs_dir: str, path: str) -> dict[str, Any]:
    """Send every recorded request again, in order, and decode each answer: nothing else. A request signed by
    WooCommerce's OAuth 1.0a (plain http) is signed again, as the connector signs it: the shop refuses a nonce
    it has seen."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    import requests

    from connectors.http import decode_json
    from connectors.woocommerce.client import OAuth1Signer

    credentials = _tenants(Path(rs_dir))[platform].credentials
    recorded = json.loads(Path(path).read_text())
    session = requests.Session()
    started = time.perf_counter()
    for method, url, headers, body in recorded:
        auth = None
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == "oauth_signature" for name, _ in query):
            url = urlunsplit(parts._replace(query=urlencode([(n, v) for n, v in query if not n.startswith("oauth_")])))
            auth = OAuth1Signer(credentials["consumer_key"], credentials["consumer_secret"])
        request = requests.Request(
            method, url, headers=headers, auth=auth, data=base64.b64decode(body) if body else None
        )
        response = session.send(session.prepare_request(request), timeout=600)
        response.raise_for_status()
        decode_json(response)
    return {"requests": len(recorded), "seconds": time.perf_counter() - started}


def child_sync(platform: str, rs_dir: str, db_url: str) -> dict[str, Any]:
    from connectors.registry import connector_for
    from connectors.sync import run_sync
    from core.store.db import make_engine, migrate
    from core.store.tenants import upsert_tenant

    config = _tenants(Path(rs_dir))[platform]
    engine = make_engine(db_url)
    migrate(engine)
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, config, datetime.now(UTC))
    started = time.perf_counter()
    report = run_sync(engine, tenant, connector_for(config), clock=lambda: datetime.now(UTC))
    seconds = time.perf_counter() - started
    engine.dispose()
    totals = report.totals()
    return {"records": totals.fetched, "created": totals.created, "ok": report.ok, "seconds": seconds}


def _socket_url() -> str:
    """The bench database through the server's Unix socket (the namespace has a loopback of its own)."""
    import sqlalchemy as sa

    from core.store.db import make_engine

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{PG_DB}"'))
        directory = conn.exec_driver_sql("SHOW unix_socket_directories").scalar().split(",")[0].strip()
    admin.dispose()
    user = sa.make_url(PG_ADMIN).username
    return f"postgresql://{user}@/{PG_DB}?host={directory}"


def _fresh_db(kind: str, workdir: Path) -> str:
    if kind == "postgresql":
        return _socket_url()
    path = workdir / "bench.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


def _child(netns: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    """One measurement in a fresh process inside the shops' namespace; what it printed."""
    done = subprocess.run(_in_namespace(netns, "--child", *args), capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        sys.exit(f"error: the {args[0]} child failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(rs_dir: Path, platforms: list[str], databases: list[str], repeat: int) -> None:
    from connectors_sync import _drop_pg, _spread

    stores = _stores(rs_dir)
    netns = stores["NETNS"]
    env = {**os.environ, **stores}
    print(f"First sync of the real shops ÷ every request it makes, replayed; {repeat} pairs (ABAB), ratios "
          "min / median / max")  # fmt: skip
    print(f"{'shop':<12} {'db':<11} {'records':>8} {'requests':>8} {'req s':>6} {'sync s':>7} {'rec/s':>6}  "
          "sync ÷ requests")  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        for platform in platforms:
            recording = Path(workdir) / f"requests-{platform}.json"
            recorded = _child(netns, env, "record", platform, str(rs_dir), str(recording))
            for kind in databases:
                replays: list[dict[str, Any]] = []
                syncs: list[dict[str, Any]] = []
                try:
                    for _ in range(repeat):
                        replays.append(_child(netns, env, "replay", platform, str(rs_dir), str(recording)))
                        syncs.append(_child(netns, env, "sync", platform, str(rs_dir), _fresh_db(kind, Path(workdir))))
                finally:
                    if kind == "postgresql":
                        _drop_pg(PG_DB)
                if not all(s["ok"] for s in syncs) or {s["records"] for s in syncs} != {recorded["records"]}:
                    sys.exit(f"error: a {platform} sync failed or fetched other records than the recording: {syncs}")
                req_s = statistics.median(r["seconds"] for r in replays)
                sync_s = statistics.median(s["seconds"] for s in syncs)
                ratios = [s["seconds"] / r["seconds"] for r, s in zip(replays, syncs, strict=True)]
                print(f"{platform:<12} {kind:<11} {recorded['records']:>8} {recorded['requests']:>8} {req_s:>6.1f} "
                      f"{sync_s:>7.1f} {recorded['records'] / sync_s:>6.0f}  {_spread(ratios)}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    seeding = sub.add_parser("seed", help="add orders to each shop")
    seeding.add_argument("--orders", type=int, required=True)
    parser.add_argument("--platforms", default="woocommerce,prestashop")
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3, help="request/sync pairs per measurement (ABAB)")
    args = parser.parse_args()
    if "RS_DIR" not in os.environ:
        parser.error("RS_DIR is not set: the folder of a realstores up.sh run (see the docstring)")
    rs_dir = Path(os.environ["RS_DIR"]).resolve()
    if args.command == "seed":
        if args.orders < 1:
            parser.error("--orders must be at least 1")
        seed(rs_dir, args.orders)
        return
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    unknown = sorted(set(platforms) - set(TENANTS))
    if unknown:
        parser.error(f"--platforms: unknown {', '.join(unknown)} (the real shops are {', '.join(TENANTS)})")
    databases = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    measure(rs_dir, platforms, databases, args.repeat)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT / "bench"))
        child = {"seed_woo": child_seed_woo, "record": child_record, "replay": child_replay, "sync": child_sync}
        print(json.dumps(child[sys.argv[2]](*sys.argv[3:])))
    else:
        main()
