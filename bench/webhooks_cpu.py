"""Benchmark: the CPU the web service spends on one accepted WooCommerce delivery, in process, against another checkout.

Run: .venv/bin/python bench/webhooks_cpu.py --baseline-tree DIR [--requests 3000] [--rounds 3]

``bench/webhooks_gunicorn.py`` measures the intake's throughput against a
Flask hello-world under gunicorn and wrk; on a machine shared with other
work its figures follow the CPU the other processes leave. This one
isolates what the code decides: each measurement is a fresh process
(``--child``) that builds the web service (``relance.wsgi.make_app``, the
environment of a real install: PostgreSQL, Redis started here) from the
code of one folder and sends it signed WooCommerce ``order.created``
deliveries (each of its own order) straight through WSGI, the whole
intake included (tenant, signature, JSON, the INSERT committed, the Redis
hand-over, the answer), and reports its CPU time (``time.process_time``)
and wall time per request. The baseline (``--baseline-tree``, a checkout of
main, say) and this checkout alternate, ``--rounds`` times; the ratio
this / baseline of CPU per request is printed as min/median/max. Every
answer must be 200 and every delivery stored. Needs PostgreSQL
(RELANCE_BENCH_PG_URL, default the tests' server; a database of its own,
dropped at the end) and redis-server.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200


def child(bodies_file: Path, path: str) -> None:
    """Serve the deliveries of ``bodies_file`` through the app of the code on sys.path; print CPU and wall ms."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]  # bench/console.py is not ours
    from relance.wsgi import make_app

    app = make_app()
    deliveries = json.loads(bodies_file.read_text())
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> None:
        statuses.append(status)

    def environ(body: bytes, signature: str) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
            "HTTP_USER_AGENT": "WooCommerce/10.0.2 Hookshot (WordPress/6.8.1)",
            "HTTP_X_WC_WEBHOOK_TOPIC": "order.created",
            "HTTP_X_WC_WEBHOOK_RESOURCE": "order",
            "HTTP_X_WC_WEBHOOK_EVENT": "created",
            "HTTP_X_WC_WEBHOOK_ID": "4",
            "HTTP_X_WC_WEBHOOK_DELIVERY_ID": "d41d8cd98f00b204e9800998ecf8427e",
            "HTTP_X_WC_WEBHOOK_SOURCE": "https://shop.example.com/",
            "HTTP_X_WC_WEBHOOK_SIGNATURE": signature,
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }

    requests = [environ(body.encode("latin-1"), signature) for body, signature in deliveries]
    for request in requests[:WARM_UP]:
        b"".join(app(request, start_response))
    measured = requests[WARM_UP:]
    cpu, wall = time.process_time(), time.perf_counter()
    for request in measured:
        b"".join(app(request, start_response))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    refused = [status for status in statuses if not status.startswith("200")]
    print(
        json.dumps({"cpu_ms": 1000 * cpu / len(measured), "wall_ms": 1000 * wall / len(measured), "refused": refused})
    )


def run_child(tree: Path, bodies: Path, env: dict[str, str]) -> dict[str, Any]:
    """One measurement: a fresh process importing the code of ``tree`` first."""
    python_path = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(bodies)]
    out = subprocess.run(command, env={**env, "PYTHONPATH": python_path}, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{tree}: the measuring process failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["refused"]:
        raise SystemExit(f"{tree}: {len(result['refused'])} deliveries refused, first {result['refused'][0]}")
    return result


def spread(values: list[float]) -> str:
    return f"min {min(values):.3f} / median {statistics.median(values):.3f} / max {max(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-tree", help="the code to compare with (a checkout of main, say)")
    parser.add_argument("--requests", type=int, default=3000, help="deliveries measured per process")
    parser.add_argument("--rounds", type=int, default=3, help="alternated measurements of each checkout")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, "/hooks/bench/woocommerce")
        return
    if not args.baseline_tree:
        parser.error("--baseline-tree is required")

    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa
    from redis import Redis

    from bench.webhooks_gunicorn import PG_ADMIN, SECRET, free_port, write_template
    from core.sections import validate_tenant
    from core.store.db import make_engine, migrate
    from core.store.tenants import upsert_tenant
    from webhooks.signing import sign_woocommerce

    tmp = Path(tempfile.mkdtemp(prefix="relance-bench-cpu-"))
    template = tmp / "order.json"
    write_template(template)
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    name = f"relance_bench_cpu_{os.getpid()}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            tenant = {"name": "bench", "platform": "woocommerce", "url": "https://shop.example.com"}
            tenant |= {"webhook_secret": SECRET, "timezone": "Europe/Paris"}
            upsert_tenant(conn, validate_tenant(tenant), datetime.now(UTC))
        env = {**os.environ, "RELANCE_DATABASE_URL": url, "RELANCE_REDIS_URL": f"redis://127.0.0.1:{port}/0"}
        env |= {"RELANCE_DATA_DIR": str(tmp), "RELANCE_SECRET_KEY": "bench-secret-key-0123456789"}
        env["RELANCE_LOG_LEVEL"] = "WARNING"
        for _ in range(100):
            try:
                Redis(port=port).ping()
                break
            except OSError:
                time.sleep(0.05)
        trees = {"baseline": Path(args.baseline_tree).resolve(), "this": ROOT}
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "this": []}
        next_id = 1_000_000
        for _ in range(args.rounds):
            for kind, tree in trees.items():
                bodies = tmp / f"bodies-{next_id}.json"
                deliveries = []
                for order_id in range(next_id, next_id + WARM_UP + args.requests):
                    body = template.read_bytes().replace(b"__ID__", str(order_id).encode())
                    deliveries.append((body.decode("latin-1"), sign_woocommerce(body, SECRET)))
                bodies.write_text(json.dumps(deliveries))
                next_id += 1_000_000
                runs[kind].append(run_child(tree, bodies, env))
        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
        expected = 2 * args.rounds * (WARM_UP + args.requests)
        print(
            f"webhooks CPU bench: {args.rounds} alternated rounds x {args.requests} accepted deliveries in process "
            f"(WSGI, PostgreSQL + Redis), baseline {trees['baseline']}"
        )
        for kind in trees:
            cpu = [run["cpu_ms"] for run in runs[kind]]
            wall = [run["wall_ms"] for run in runs[kind]]
            print(f"  {kind:<8} CPU ms per delivery {spread(cpu)}; wall ms {spread(wall)}")
        ratios = [t["cpu_ms"] / b["cpu_ms"] for b, t in zip(runs["baseline"], runs["this"], strict=True)]
        print(f"  ratio this / baseline CPU per delivery {spread(ratios)}")
        print(f"  stored {stored} of {expected} answered 200")
    finally:
        engine.dispose()
        redis.terminate()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
