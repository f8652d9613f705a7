"""Benchmark: the webhook service under gunicorn on loopback against a bare Flask hello-world.

Run: /tmp/venv/bin/python bench/webhooks_gunicorn.py [--requests 2000] [--concurrency 8] [--workers 4] [--rounds 3]

Both apps run under the same gunicorn command (sync workers, pinned to CPU 0);
a Python load generator pinned to CPU 1 sends the same signed WooCommerce
``order.created`` deliveries (a distinct order per request, WooCommerce's
exact body and signature) to both. Each round measures the hello-world and
then the service; medians over the rounds are reported, with the ratio and
p50/p99 latencies. Then the database is counted: deliveries stored must equal
the 2xx answers (none lost), with no body stored twice (none duplicated); an
RQ worker then processes them all and the orders are counted (one per
delivery). Needs PostgreSQL (RELANCE_BENCH_PG_URL, default the tests' server)
and redis-server (started here on a free port).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.sections import validate_tenant  # noqa: E402
from core.store.db import make_engine, migrate  # noqa: E402
from core.store.tenants import upsert_tenant  # noqa: E402
from tests.webhooks.payloads import delivery_headers, order, wp_json  # noqa: E402

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "bench-webhook-secret-0123456789"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(port: int, path: str = "/healthz") -> None:
    """Wait until something answers HTTP on ``port``."""
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
                if sock.recv(64).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit(f"nothing answers on port {port}")


def requests_for(count: int, start_id: int, port: int) -> list[bytes]:
    """``count`` raw HTTP requests, each a distinct WooCommerce order delivery, signed like WooCommerce."""
    out = []
    for offset in range(count):
        order_id = start_id + offset
        body = wp_json(order(id=order_id, number=str(order_id), order_key=f"wc_order_{order_id}"))
        headers = delivery_headers("order.created", body, SECRET, delivery_id=uuid.uuid4().hex[:12])
        headers.update({"Host": f"127.0.0.1:{port}", "Content-Length": str(len(body)), "Connection": "close"})
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        out.append(f"POST /hooks/bench/woocommerce HTTP/1.1\r\n{head}\r\n".encode() + body)
    return out


def load(port: int, requests: list[bytes], concurrency: int) -> dict[str, Any]:
    """Send every request once over its own connection; return rate, latencies and status counts."""
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        mine: list[float] = []
        codes: dict[int, int] = {}
        while (index := next(counter)) < len(requests):
            started = time.perf_counter()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                    sock.sendall(requests[index])
                    head = b""
                    while chunk := sock.recv(65536):
                        head += chunk if len(head) < 64 else b""
                code = int(head[9:12])
            except (OSError, ValueError):
                code = 0
            mine.append(time.perf_counter() - started)
            codes[code] = codes.get(code, 0) + 1
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rate": len(requests) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "statuses": statuses,
    }


def gunicorn(app: str, port: int, workers: int, env: dict[str, str], chdir: Path) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    command += ["--backlog", "2048", "--log-level", "warning", "--chdir", str(chdir), app]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    return subprocess.Popen(command, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="connections in flight")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (both apps)")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each app (medians reported)")
    parser.add_argument(
        "--process", action="store_true", help="then process every delivery with one RQ worker and count the orders"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:
        os.sched_setaffinity(0, {1})  # the load generator on the other core

    tmp = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    redis_port, hello_port, service_port = free_port(), free_port(), free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    name = f"relance_bench_{os.getpid()}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            upsert_tenant(
                conn,
                validate_tenant(
                    {
                        "name": "bench",
                        "platform": "woocommerce",
                        "url": "https://shop.example.com",
                        "webhook_secret": SECRET,
                        "timezone": "Europe/Paris",
                    }
                ),
                datetime.now(UTC),
            )
        env = {**os.environ, "RELANCE_DATABASE_URL": url, "RELANCE_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
        env |= {
            "RELANCE_DATA_DIR": str(tmp),
            "RELANCE_SECRET_KEY": "bench-secret-key-0123456789",
            "RELANCE_LOG_LEVEL": "WARNING",
        }
        hello = gunicorn("webhooks_hello:app", hello_port, args.workers, env, ROOT / "bench")
        service = gunicorn("relance.wsgi:app", service_port, args.workers, env, ROOT)
        processes += [hello, service]
        wait_http(hello_port, "/")
        wait_http(service_port)

        next_id = 1_000_000
        warm = requests_for(300, next_id, service_port)
        next_id += 300
        load(hello_port, warm, args.concurrency)
        warmed = load(service_port, warm, args.concurrency)
        sent_ok = sum(n for code, n in warmed["statuses"].items() if 200 <= code < 300)  # counted too
        runs: dict[str, list[dict[str, Any]]] = {"hello": [], "service": []}
        for _ in range(args.rounds):
            batch = requests_for(args.requests, next_id, service_port)
            next_id += args.requests
            runs["hello"].append(load(hello_port, batch, args.concurrency))
            result = load(service_port, batch, args.concurrency)
            runs["service"].append(result)
            sent_ok += sum(n for code, n in result["statuses"].items() if 200 <= code < 300)
        stop(hello)

        def median(kind: str, key: str) -> float:
            return statistics.median(run[key] for run in runs[kind])

        print(
            f"webhooks bench: {args.rounds} rounds x {args.requests} requests, concurrency {args.concurrency}, "
            f"gunicorn --workers {args.workers} (sync) on CPU 0, load generator on CPU 1, PostgreSQL + Redis"
        )
        for kind, label in (("hello", "Flask hello-world"), ("service", "signed WooCommerce deliveries")):
            rates = ", ".join(f"{run['rate']:.0f}" for run in runs[kind])
            print(
                f"  {label:<30} {median(kind, 'rate'):7.0f} req/s (rounds: {rates}), "
                f"p50 {median(kind, 'p50'):.1f} ms, p99 {median(kind, 'p99'):.1f} ms"
            )
        ratio = median("service", "rate") / median("hello", "rate")
        print(f"  ratio service / hello-world   {ratio:.2f} (aim: >= 0.50)")
        statuses: dict[int, int] = {}
        for run in runs["service"]:
            for code, n in run["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
        print(f"  service answers               {json.dumps(statuses)}")

        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
            distinct = conn.execute(sa.text("SELECT count(DISTINCT md5(body)) FROM webhook_deliveries")).scalar_one()
        print(
            f"  deliveries stored             {stored} for {sent_ok} answered 2xx: lost {max(sent_ok - stored, 0)}, "
            f"stored twice {stored - distinct}"
        )
        if args.process:
            started = time.perf_counter()
            worker = subprocess.run(
                [str(BIN / "relance"), "worker", "--burst", "--no-cron", "--queue", "relance"],
                env=env,
                capture_output=True,
                check=False,
            )
            elapsed = time.perf_counter() - started
            with engine.connect() as conn:
                orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
                states = dict(
                    conn.execute(sa.text("SELECT state, count(*) FROM webhook_deliveries GROUP BY state")).all()
                )
            print(
                f"  processed by 1 worker         {elapsed:.0f} s ({stored / elapsed:.0f} deliveries/s), "
                f"states {json.dumps(states)}, orders {orders} (expected {distinct}); worker exit {worker.returncode}"
            )
        engine.dispose()
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
        stop(redis)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
