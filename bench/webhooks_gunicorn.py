"""Benchmark: the webhook intake under gunicorn against a bare Flask hello-world, loaded by wrk.

Run: .venv/bin/python bench/webhooks_gunicorn.py [--duration 10] [--connections 8] [--workers 4] [--rounds 3]
     [--worker-class sync] [--threads 1] [--no-processing] [--profile] [--compare-plain]

Both apps run under the same gunicorn command (sync workers by default, the
same count, pinned to CPU 0); ``wrk`` (Debian package ``wrk``) pinned to
CPU 1 sends the same load to both with ``bench/webhooks_wrk.lua``:
WooCommerce ``order.created`` deliveries, each of its own order (a distinct
id), with WooCommerce's exact body and signed in Lua as WooCommerce signs
them. Baseline and subject alternate (hello, service, hello, service...,
``--rounds`` times); the req/s ratio service / hello is printed as
min/median/max over the rounds, with each app's p50/p99 latency and its
workers' CPU time per request (from /proc). Then the database is counted:
deliveries stored against the 2xx answers (none lost), none stored twice,
every stored id handed over in Redis; a ``relance worker --burst``
processes them all (the drain jobs the intake handed them to) and the
deliveries processed and the orders are counted (``--no-processing``
skips that). The workers do not run during the load (the CPU goes to the
web service only, as with the baseline). ``--profile`` then loads each app
once more with its workers sampling their own CPU time
(``bench/webhooks_sampler.py``) and prints where it goes. Needs PostgreSQL
(RELANCE_BENCH_PG_URL, default the tests' server) and redis-server (started
here on a free port).

Figures (2 cores shared with other work; see docs/webhooks.md), ratio
min / median / max: before this round of intake work 0.33 / 0.34 / 0.37
(load average 2) and 0.26 / 0.32 / 0.39 (load 4), the service's workers
spending 1.1 to 1.2 ms CPU per request against the hello's 0.32; after it
0.37 / 0.38 / 0.40 (load 8.7), 0.96 to 1.03 ms against 0.37 to 0.38, service
p99 34 ms (hello 17 to 20 ms), 0 lost, every stored id handed over and
processed. The ratio follows the CPU per request: 0.5 needs about 2x the
hello's.

``--compare-plain`` also serves the service without its WSGI fast path
(``bench/webhooks_plain.py``: ``create_app(..., RELANCE_FAST_INTAKE=False)``)
and loads it in every round (hello, without, with), printing its ratio to
the hello and the ratio with / without. With the fast path (load average 1
to 4): with / without 1.16 / 1.27 / 1.43; service / hello 0.39 / 0.49 / 0.49
against 0.31 / 0.34 / 0.42 without it; workers' CPU 0.75 ms per request
against 1.03 (hello 0.36); service p99 16.3 / 16.6 / 17.0 ms; 0 lost. A
second run: 1.00 / 1.14 / 1.16; 0.48 / 0.50 / 0.50 against 0.44 / 0.44 /
0.48; 0.81 ms against 1.04 (hello 0.41); p99 20.5 / 20.7 / 21.1 ms; 0 lost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.sections import validate_tenant  # noqa: E402
from core.store.db import make_engine, migrate  # noqa: E402
from core.store.tenants import upsert_tenant  # noqa: E402
from jobs.inbound import INCOMING  # noqa: E402
from tests.webhooks.payloads import order, wp_json  # noqa: E402

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


PLACEHOLDER_ID = 987654321
PATH = "/hooks/bench/woocommerce"
LUA = Path(__file__).resolve().parent / "webhooks_wrk.lua"
SAMPLER = Path(__file__).resolve().parent / "webhooks_sampler.py"
#: The service without its WSGI fast path (``--compare-plain``).
PLAIN = "bench.webhooks_plain:app"


def write_template(path: Path) -> None:
    """WooCommerce's exact body of an order.created delivery, ``__ID__`` where the order's id goes."""
    body = wp_json(order(id=PLACEHOLDER_ID, number=str(PLACEHOLDER_ID), order_key=f"wc_order_{PLACEHOLDER_ID}"))
    path.write_bytes(body.replace(str(PLACEHOLDER_ID).encode(), b"__ID__"))


def workers_cpu(server: subprocess.Popen[bytes]) -> float:
    """CPU seconds (user + system) used so far by the gunicorn workers of ``server`` (from /proc; 0 elsewhere)."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        ticks = 0
        for pid in children:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    except OSError:
        return 0.0
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    port: int,
    seconds: float,
    connections: int,
    first_id: int,
    template: Path,
    server: subprocess.Popen[bytes] | None = None,
) -> dict[str, Any]:
    """One wrk run (one thread, on CPU 1) against ``port``; its counts, rate, latencies, workers' CPU per request."""
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(seconds)}s", "--timeout", "10s", "-s", str(LUA)]
    command.append(f"http://127.0.0.1:{port}{PATH}")
    if shutil.which("taskset"):
        command = ["taskset", "-c", "1", *command]
    env = {
        **os.environ,
        "RELANCE_BENCH_TEMPLATE": str(template),
        "RELANCE_BENCH_SECRET": SECRET,
        "RELANCE_BENCH_FIRST_ID": str(first_id),
        "RELANCE_BENCH_PATH": PATH,
    }
    cpu = workers_cpu(server) if server else 0.0
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    result = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    result["rate"] = result["requests"] / (result["duration_us"] / 1e6)
    result["ok"] = result["requests"] - result["non_2xx"]
    result["cpu_ms"] = 1000 * (workers_cpu(server) - cpu) / max(result["requests"], 1) if server else 0.0
    return result


def gunicorn(
    app: str, port: int, args: argparse.Namespace, env: dict[str, str], chdir: Path, extra: list[str] | None = None
) -> subprocess.Popen[bytes]:
    command = [
        str(BIN / "gunicorn"),
        *(extra or []),
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
    ]
    command += ["--threads", str(args.threads), "--bind", f"127.0.0.1:{port}"]
    command += ["--backlog", "2048", "--log-level", "warning", "--no-control-socket", "--chdir", str(chdir), app]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    return subprocess.Popen(command, env=env)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def profile(
    app: str, chdir: Path, args: argparse.Namespace, env: dict[str, str], first_id: int, template: Path, tmp: Path
) -> int:
    """Load ``app`` once more, its workers sampling their own CPU time; print where it goes; return the 2xx."""
    folder = tmp / f"profile-{app.split(':')[0]}"
    folder.mkdir()
    port = free_port()
    extra = ["-c", str(SAMPLER)]
    process = gunicorn(app, port, args, {**env, "RELANCE_BENCH_PROFILE_DIR": str(folder)}, chdir, extra)
    try:
        wait_http(port, "/healthz")
        warm = wrk(port, 2, args.connections, first_id, template)  # warm-up, not profiled
        for path in folder.glob("*.json"):
            path.unlink()
        result = wrk(port, args.duration, args.connections, first_id + 500_000_000, template, process)
    finally:
        stop(process)  # the workers write their samples as they exit
    stacks: dict[str, int] = {}
    for path in folder.glob("*.json"):
        for stack, count in json.loads(path.read_text()).items():
            stacks[stack] = stacks.get(stack, 0) + count
    total = sum(stacks.values())
    cpu_ms = result["cpu_ms"]
    print(
        f"  profile of {app}: {result['requests']} requests ({result['rate']:.0f}/s), workers' CPU "
        f"{cpu_ms:.3f} ms per request (/proc), shared out by {total} samples (ms = share x that):"
    )
    inclusive: dict[str, int] = {}
    for stack, count in stacks.items():
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + count
    for name, count in sorted(inclusive.items(), key=lambda item: -item[1])[: args.profile_lines]:
        print(f"    {100 * count / max(total, 1):5.1f}%  {cpu_ms * count / max(total, 1):6.3f} ms  {name}")
    return warm["ok"] + result["ok"]


def commit_ms(engine: sa.Engine, count: int = 20) -> float:
    """Median time (ms) of a durable one-row INSERT in autocommit: the disk's share of every stored delivery."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS bench_commit_probe (id serial PRIMARY KEY, at timestamptz)"))
        times = []
        for _ in range(count):
            started = time.perf_counter()
            conn.execute(sa.text("INSERT INTO bench_commit_probe (at) VALUES (now())"))
            times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def spread(values: list[float]) -> str:
    return f"min {min(values):.2f} / median {statistics.median(values):.2f} / max {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10.0, help="seconds of load per measurement")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections in flight")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (both apps)")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (both apps)")
    parser.add_argument("--threads", type=int, default=1, help="gunicorn threads per worker (both apps)")
    parser.add_argument(
        "--no-processing",
        dest="processing",
        action="store_false",
        help="skip the worker processing the stored deliveries afterwards (they are still counted)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternated measurements of each app")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="then load each app once more, its workers sampling their CPU time (bench/webhooks_sampler.py)",
    )
    parser.add_argument(
        "--compare-plain",
        action="store_true",
        help="also load the service without its WSGI fast path (bench/webhooks_plain.py) in each round",
    )
    parser.add_argument(
        "--baseline-tree",
        help="also load the service as the code in this folder has it (a checkout of main, say) in each round",
    )
    parser.add_argument("--profile-lines", type=int, default=40, help="functions shown per profile")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")

    tmp = Path(tempfile.mkdtemp(prefix="relance-bench-"))
    template = tmp / "order.json"
    write_template(template)
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
        hello = gunicorn("webhooks_hello:app", hello_port, args, env, ROOT / "bench")
        service = gunicorn("relance.wsgi:app", service_port, args, env, ROOT)
        processes += [hello, service]
        # Other subjects loaded in every round beside the service: (key, label, port, process, first-id offset).
        others: list[tuple[str, str, int, subprocess.Popen[bytes], int]] = []
        if args.compare_plain:
            port = free_port()
            others.append(("plain", "same, without the fast path", port, gunicorn(PLAIN, port, args, env, ROOT), 5))
        if args.baseline_tree:
            tree = Path(args.baseline_tree).resolve()
            port = free_port()
            tree_env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))}
            process = gunicorn("relance.wsgi:app", port, args, tree_env, tree)
            others.append(("tree", f"same, code of {tree.name}", port, process, 2))
        processes += [process for *_, process, _ in others]
        wait_http(hello_port, "/")
        wait_http(service_port)
        for _, _, port, _, _ in others:
            wait_http(port)

        next_id = 1_000_000
        wrk(hello_port, 2, args.connections, next_id, template)  # warm-up
        warm = wrk(service_port, 2, args.connections, next_id, template)
        if warm["ok"] == 0:
            raise SystemExit(f"the service refused every request of the warm-up ({warm}); is the Lua signing right?")
        answered = [warm["ok"]]
        for _, _, port, _, offset in others:
            answered.append(wrk(port, 2, args.connections, next_id + offset * 100_000_000, template)["ok"])
        runs: dict[str, list[dict[str, Any]]] = {"hello": [], "service": [], **{key: [] for key, *_ in others}}
        commits: list[float] = []
        for _ in range(args.rounds):
            next_id += 1_000_000_000
            commits.append(commit_ms(engine))
            runs["hello"].append(wrk(hello_port, args.duration, args.connections, next_id, template, hello))
            for key, _, port, process, offset in others:
                result = wrk(port, args.duration, args.connections, next_id + offset * 100_000_000, template, process)
                runs[key].append(result)
                answered.append(result["ok"])
            result = wrk(service_port, args.duration, args.connections, next_id, template, service)
            runs["service"].append(result)
            answered.append(result["ok"])
        commits.append(commit_ms(engine))
        for process in (hello, service, *(process for *_, process, _ in others)):
            stop(process)  # every answered request is stored before its answer: nothing is in flight now
        if args.profile:
            next_id += 1_000_000_000
            profile("webhooks_hello:app", ROOT / "bench", args, env, next_id, template, tmp)
            next_id += 1_000_000_000
            answered.append(profile("relance.wsgi:app", ROOT, args, env, next_id, template, tmp))

        print(
            f"webhooks bench: {args.rounds} alternated rounds x {args.duration:.0f} s of wrk "
            f"({args.connections} connections), gunicorn --workers {args.workers} --worker-class {args.worker_class} "
            f"--threads {args.threads} on CPU 0, wrk on CPU 1, "
            "PostgreSQL + Redis unpinned; 2 cores shared with other work on the machine"
        )
        kinds = [("hello", "Flask hello-world"), ("service", "signed WooCommerce deliveries")]
        kinds += [(key, label) for key, label, *_ in others]
        for kind, label in kinds:
            rates = ", ".join(f"{run['rate']:.0f}" for run in runs[kind])
            p50 = [run["p50_ms"] for run in runs[kind]]
            p99 = [run["p99_ms"] for run in runs[kind]]
            cpu = [run["cpu_ms"] for run in runs[kind]]
            print(
                f"  {label:<30} req/s per round: {rates}; p50 ms {spread(p50)}; p99 ms {spread(p99)}; "
                f"workers' CPU ms per request {spread(cpu)}; "
                f"non-2xx {sum(run['non_2xx'] for run in runs[kind])}, "
                f"socket errors {sum(run['socket_errors'] for run in runs[kind])}"
            )
        ratios = [s["rate"] / h["rate"] for h, s in zip(runs["hello"], runs["service"], strict=True)]
        print(f"  ratio service / hello req/s   {spread(ratios)} (goal >= 0.50)")
        print(f"  service p99 ms                {spread([run['p99_ms'] for run in runs['service']])} (goal < 50)")
        for key, label, *_ in others:
            other_ratios = [o["rate"] / h["rate"] for h, o in zip(runs["hello"], runs[key], strict=True)]
            gains = [s["rate"] / o["rate"] for o, s in zip(runs[key], runs["service"], strict=True)]
            print(f"  ratio {label} / hello {spread(other_ratios)}")
            print(f"  ratio service / {label} {spread(gains)}")
        print(
            f"  PostgreSQL durable commit (one INSERT, autocommit, between rounds) ms {spread(commits)}: "
            f"4 sync workers cannot pass 4 / that per second"
        )

        with engine.connect() as conn:
            stored = conn.execute(sa.text("SELECT count(*) FROM webhook_deliveries")).scalar_one()
            distinct = conn.execute(sa.text("SELECT count(DISTINCT md5(body)) FROM webhook_deliveries")).scalar_one()
        ok = sum(answered)
        print(
            f"  answered 2xx {ok}, stored {stored}: lost {max(ok - stored, 0)}, "
            f"stored without an answer {max(stored - ok, 0)} (in flight when wrk stopped), "
            f"stored twice {stored - distinct}"
        )
        waiting = Redis(port=redis_port).llen(INCOMING)
        print(f"  handed over to the workers (ids waiting in Redis) {waiting} of {stored} stored")
        if not args.processing:
            engine.dispose()
            return
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
            states = dict(conn.execute(sa.text("SELECT state, count(*) FROM webhook_deliveries GROUP BY state")).all())
        processed = states.get("processed", 0)
        print(
            f"  processed {processed} of {stored} stored by 1 worker in {elapsed:.0f} s "
            f"({processed / elapsed:.0f} deliveries/s), states {json.dumps(states)}, orders {orders} "
            f"(expected {distinct}); worker exit {worker.returncode}; lost {stored - processed}"
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
