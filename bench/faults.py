"""Fault run: production's shape under a steady load while Redis, PostgreSQL and a worker are killed.

Run: .venv/bin/python bench/faults.py [--rate 10] [--duration 180] [--drain 900]

Starts its own PostgreSQL cluster (initdb/pg_ctl of /usr/lib/postgresql/*/bin,
as the ``postgres`` user when run as root) and its own redis-server, gunicorn
(2 sync workers, ``relance.wsgi:app``) and two ``relance worker`` processes
(worker A forks a child per job, worker B runs jobs in its own process). A
paced sender posts WooCommerce ``order.created`` deliveries (each its own
order, signed as WooCommerce signs them) at ``--rate`` per second for
``--duration`` seconds, and retries a delivery answered 5xx or not answered
2 s later, as WooCommerce retries (until the end of the load plus 60 s).
Meanwhile, at fixed times (fractions of the duration):

- 11 %: worker A SIGKILLed mid-work, started again 2 s later (as systemd does);
  its children at the kill must die with it;
- 25 %: Redis SIGKILLed (its data lost: no persistence), started again 10 s later;
- 47 %: PostgreSQL stopped (fast shutdown) for 25 s;
- 75 %: Redis SIGKILLed again, started again 10 s later.

Then it waits (up to ``--drain`` seconds) for every acknowledged delivery to
be processed by the workers and the sweeps (a delivery claimed by the
SIGKILLed worker is taken over by the sweep after ``CLAIM_TIMEOUT``, 5 min),
and prints: sent, acknowledged, stored, processed, lost (acknowledged and
stored neither as a delivery nor as an order), not processed (acknowledged
and not an order when the wait ends), duplicated (an order stored twice), the workers
that exited by themselves and the children the SIGKILLed worker left. The
run is its own baseline: every figure is compared with what the sender
counted in the same run.

Messages are part of it: the tenant has a flow that sends a (transactional)
email for every order placed, through SMTP to an aiosmtpd sink of the run's
own that counts every email by its Message-ID (derived from the outbox's
unique key, so a message sent twice shows twice). It prints the messages
written, sent, received by the sink, duplicated (a Message-ID received more
than once), in doubt (``failed/interrupted``: the one message a killed
worker was handing to SMTP, lost rather than duplicated by design, see
docs/messages.md) and stranded (written but neither sent nor resolved when
the run ends).
"""

from __future__ import annotations

import argparse
import copy
import email
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path

import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.sections import validate_tenant  # noqa: E402
from core.store.db import make_engine, migrate  # noqa: E402
from core.store.deliveries import deliveries  # noqa: E402
from core.store.schema import messages, orders  # noqa: E402
from core.store.tenants import upsert_tenant  # noqa: E402
from tests.faults.conftest import PgCluster, RedisServer, _pg_bin, children, free_port, pid_alive  # noqa: E402
from tests.webhooks.payloads import ORDER, delivery_headers, order, wp_json  # noqa: E402

SECRET = "bench-webhook-secret-0123456789"
BIN = Path(sys.executable).parent
PATH = "/hooks/bench/woocommerce"
FIRST_ORDER = 100_000


class Sink:
    """An aiosmtpd handler counting every email received by its Message-ID."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        parsed = email.message_from_bytes(envelope.content)  # type: ignore[attr-defined]
        with self.lock:
            self.received[str(parsed.get("Message-ID", ""))] += 1
        return "250 Message accepted"


#: Every order placed gets one transactional email (not held by consent, caps or quiet hours).
FLOWS = {
    "welcome": {"enabled": False},
    "custom": {
        "thanks": {
            "trigger": {"event": "order_placed"},
            "reentry": "once_per_object",
            "steps": [{"send": "email", "template": "welcome/1", "marketing": False}],
        }
    },
}
SENDER = {"name": "Bench Shop", "email": "shop@bench.example"}


def message_figures(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.flow, messages.c.status, messages.c.reason, sa.func.count()).group_by(
                messages.c.flow, messages.c.status, messages.c.reason
            )
        ).all()
    flows = {f"{flow}/{status}/{reason}": n for flow, status, reason, n in rows}
    by: Counter[tuple[str, str | None]] = Counter()
    for _, status, reason, n in rows:
        by[(status, reason)] += n
    return {
        "written": sum(by.values()),
        "sent": sum(n for (status, _), n in by.items() if status == "sent"),
        "in_doubt": by[("failed", "interrupted")],
        "unsent": sum(n for (status, _), n in by.items() if status in ("scheduled", "sending", "held")),
        "other": sum(n for (status, _), n in by.items() if status not in ("sent", "scheduled", "sending", "held"))
        - by[("failed", "interrupted")],
        "by": flows,
    }


def log(t0: float, text: str) -> None:
    print(f"  t={time.monotonic() - t0:6.1f}s  {text}", flush=True)


class Sender:
    """Posts deliveries at a steady rate from a few threads; retries 5xx and unanswered ones 2 s later."""

    def __init__(self, port: int, rate: float, duration: float, threads: int = 4) -> None:
        self.url = f"http://127.0.0.1:{port}{PATH}"
        self.rate, self.duration, self.threads = rate, duration, threads
        self.total = int(rate * duration)
        self.acked: set[int] = set()
        self.requests = self.answered_503 = self.other_errors = self.no_answer = 0
        self.given_up: set[int] = set()
        self._lock = threading.Lock()

    def body(self, number: int) -> tuple[bytes, dict[str, str]]:
        billing = {**copy.deepcopy(ORDER["billing"]), "email": f"client{number % 500}@example.com"}
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None).isoformat()  # a fresh order: flows react to it
        dates = {f"date_{k}{gmt}": now for k in ("created", "modified", "paid") for gmt in ("", "_gmt")}
        body = wp_json(order(id=number, number=str(number), order_key=f"wc_order_{number}", billing=billing, **dates))
        return body, delivery_headers("order.created", body, SECRET, delivery_id=f"d{number}", resource_id=number)

    def run(self, t0: float) -> None:
        workers = [threading.Thread(target=self._thread, args=(k, t0)) for k in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _thread(self, k: int, t0: float) -> None:
        session = requests.Session()
        retry: deque[tuple[float, int]] = deque()
        n = k
        stop_retrying = t0 + self.duration + 60
        while True:
            now = time.monotonic()
            if retry and retry[0][0] <= now:
                _, number = retry.popleft()
                if now > stop_retrying:
                    with self._lock:
                        self.given_up.add(number)
                    continue
                self._post(session, number, retry)
            elif n < self.total and t0 + n / self.rate <= now:
                self._post(session, FIRST_ORDER + n, retry)
                n += self.threads
            elif n >= self.total and not retry:
                return
            else:
                time.sleep(0.005)

    def _post(self, session: requests.Session, number: int, retry: deque[tuple[float, int]]) -> None:
        body, headers = self.body(number)
        status = None
        try:
            status = session.post(self.url, data=body, headers=headers, timeout=10).status_code
        except requests.RequestException:
            pass
        with self._lock:
            self.requests += 1
            if status is not None and 200 <= status < 300:
                self.acked.add(number)
                return
            if status == 503:
                self.answered_503 += 1
            elif status is None:
                self.no_answer += 1
            else:
                self.other_errors += 1
        retry.append((time.monotonic() + 2.0, number))


def start_worker(env: dict[str, str], logs: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    out = (logs / f"worker-{name}.log").open("ab")
    return subprocess.Popen([str(BIN / "relance"), "worker", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def count(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)).all())
        stored_orders = conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar_one()
        twice = conn.execute(
            sa.select(sa.func.count()).select_from(
                sa.select(orders.c.external_id)
                .group_by(orders.c.tenant_id, orders.c.source, orders.c.external_id)
                .having(sa.func.count() > 1)
                .subquery()
            )
        ).scalar_one()
    return {
        "stored": sum(states.values()),
        "processed": states.get("processed", 0),
        "ignored": states.get("ignored", 0),
        "pending": states.get("pending", 0),
        "failed": states.get("failed", 0),
        "orders": stored_orders,
        "twice": twice,
    }


def order_ids(engine: sa.Engine) -> set[int]:
    with engine.connect() as conn:
        return {int(row[0]) for row in conn.execute(sa.select(orders.c.external_id))}


def delivered_ids(engine: sa.Engine, state: str | None = None) -> set[int]:
    """The order ids of the stored deliveries (of one state, or all)."""
    query = sa.select(deliveries.c.body)
    if state is not None:
        query = query.where(deliveries.c.state == state)
    with engine.connect() as conn:
        return {int(json.loads(bytes(row[0]))["id"]) for row in conn.execute(query)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="deliveries per second")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--drain", type=float, default=900.0, help="longest wait (s) for the backlog after the load")
    args = parser.parse_args()
    bin_dir = _pg_bin()
    if bin_dir is None:
        raise SystemExit("faults: PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    tmp = Path(tempfile.mkdtemp(prefix="relance-faults-"))
    pg, redis = PgCluster(bin_dir), RedisServer(tmp)
    pg.init()
    pg.start()
    redis.start()
    engine = make_engine(pg.url)
    migrate(engine)
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    tenant = {
        "name": "bench",
        "platform": "woocommerce",
        "url": "https://shop.example.com",
        "webhook_secret": SECRET,
        "sender": SENDER,
        "flows": FLOWS,
        "messages": {"transport": {"type": "smtp", "host": "127.0.0.1", "port": smtp.port, "security": "none"}},
    }
    with engine.begin() as conn:
        upsert_tenant(conn, validate_tenant(tenant), datetime.now(UTC))
    env = {
        **os.environ,
        "RELANCE_DATABASE_URL": pg.url,
        "RELANCE_REDIS_URL": redis.url,
        "RELANCE_SECRET_KEY": "bench-secret-key-0123456789",
        "RELANCE_DATA_DIR": str(tmp / "data"),
        "RELANCE_LOG_LEVEL": "WARNING",
    }
    port = free_port()
    web_log = (tmp / "gunicorn.log").open("ab")
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "30"]
        + ["--chdir", str(ROOT), "relance.wsgi:app"],
        env=env,
        stdout=web_log,
        stderr=subprocess.STDOUT,
    )
    workers = {"A": start_worker(env, tmp, "A", "--fork"), "B": start_worker(env, tmp, "B")}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run(args, tmp, engine, pg, redis, env, port, workers, sink)
    finally:
        smtp.stop()
        for process in [*workers.values(), web]:
            process.send_signal(signal.SIGTERM)
        for process in [*workers.values(), web]:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        redis.kill()
        engine.dispose()
        pg.remove()


def run(
    args: argparse.Namespace,
    tmp: Path,
    engine: sa.Engine,
    pg: PgCluster,
    redis: RedisServer,
    env: dict[str, str],
    port: int,
    workers: dict[str, subprocess.Popen[bytes]],
    sink: Sink,
) -> None:
    exited_by_themselves: list[str] = []
    left_children: list[int] = []
    at_kill: list[int] = []
    for _ in range(200):
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                break
        except requests.RequestException:
            time.sleep(0.1)
    sender = Sender(port, args.rate, args.duration)
    print(
        f"fault run: {args.duration:.0f} s at {args.rate:g} deliveries/s ({sender.total}), gunicorn 2 workers, "
        f"relance worker A (--fork) and B; PostgreSQL {pg.url.rsplit('@', 1)[1]}, redis-server {redis.url}"
    )
    t0 = time.monotonic()

    def fault(at: float, action: object) -> threading.Timer:
        timer = threading.Timer(max(at * args.duration - (time.monotonic() - t0), 0), action)  # type: ignore[arg-type]
        timer.start()
        return timer

    def kill_worker_a() -> None:
        a = workers["A"]
        if a.poll() is not None:
            exited_by_themselves.append(f"A ({a.returncode})")
        kids = children(a.pid)
        at_kill.extend(kids)
        os.kill(a.pid, signal.SIGKILL)
        a.wait(10)
        log(t0, f"worker A SIGKILLed (pid {a.pid}, {len(kids)} child(ren) at the kill)")
        time.sleep(3)
        left_children.extend(pid for pid in kids if pid_alive(pid))
        workers["A"] = start_worker(env, tmp, "A", "--fork")
        log(t0, f"worker A started again; children of the killed one still alive: {len(left_children)}")

    def kill_redis(label: str) -> None:
        redis.kill()
        log(t0, f"Redis SIGKILLed ({label})")
        time.sleep(10)
        redis.start()
        log(t0, "Redis started again (empty)")

    def stop_pg() -> None:
        pg.stop()
        log(t0, "PostgreSQL stopped")
        time.sleep(25)
        pg.start()
        log(t0, "PostgreSQL started again")

    timers = [
        fault(0.11, kill_worker_a),
        fault(0.25, lambda: kill_redis("first time")),
        fault(0.47, stop_pg),
        fault(0.75, lambda: kill_redis("second time")),
    ]
    sender.run(t0)
    for timer in timers:
        timer.join()
    log(t0, f"load over: {sender.requests} requests, {len(sender.acked)} deliveries acknowledged")

    deadline = time.monotonic() + args.drain
    while True:
        figures = count(engine)
        missing = sender.acked - order_ids(engine)
        mail = message_figures(engine)
        if not missing and figures["pending"] == 0 and mail["written"] >= len(sender.acked) and not mail["unsent"]:
            break
        if time.monotonic() > deadline:
            log(t0, "drain: gave up waiting")
            break
        log(
            t0,
            f"drain: {figures['pending']} pending, {len(missing)} acknowledged orders not stored yet, "
            f"{mail['written']} messages written, {mail['unsent']} not sent yet",
        )
        time.sleep(10)
    drained_at = time.monotonic() - t0
    figures = count(engine)
    missing = sender.acked - order_ids(engine)
    lost = missing - delivered_ids(engine)  # acknowledged, yet neither stored as an order nor as a delivery
    stranded = missing & delivered_ids(engine, "pending")
    for name, process in workers.items():
        if process.poll() is not None:
            exited_by_themselves.append(f"{name} ({process.returncode})")
    quitting = sum((tmp / f"worker-{n}.log").read_text(errors="replace").count("quitting") for n in workers)

    print(f"sent             {sender.total:6d}  deliveries (distinct orders) the sender made")
    print(f"acknowledged     {len(sender.acked):6d}  answered 2xx (after retries)")
    print(
        f"  requests {sender.requests}, answered 503: {sender.answered_503}, not answered: {sender.no_answer}, "
        f"other errors: {sender.other_errors}, given up: {len(sender.given_up)}"
    )
    print(
        f"stored           {figures['stored']:6d}  delivery rows (more than acknowledged: answers lost after storing)"
    )
    print(
        f"processed        {figures['processed'] + figures['ignored']:6d}  (pending {figures['pending']}, failed {figures['failed']})"
    )
    print(f"orders stored    {figures['orders']:6d}")
    print(f"lost             {len(lost):6d}  acknowledged, stored neither as a delivery nor as an order")
    print(
        f"not processed    {len(missing):6d}  acknowledged, not stored as an order at the end ({len(stranded)} pending)"
    )
    print(f"duplicated       {figures['twice']:6d}  orders stored twice")
    print(
        f"workers exited by themselves: {len(exited_by_themselves)} {exited_by_themselves or ''}; 'quitting' in logs: {quitting}"
    )
    print(f"children of the SIGKILLed worker left alive: {len(left_children)} (of {len(at_kill)} at the kill)")
    print(f"backlog drained at t={drained_at:.0f} s; logs in {tmp}")
    mail = message_figures(engine)
    with sink.lock:
        received, twice = sum(sink.received.values()), sum(1 for n in sink.received.values() if n > 1)
    print(f"messages written {mail['written']:6d}  one per stored order (the flow 'thanks')")
    print(f"messages sent    {mail['sent']:6d}  marked sent; the SMTP sink received {received} emails")
    print(f"msgs duplicated  {twice:6d}  Message-IDs the sink received more than once")
    print(f"msgs in doubt    {mail['in_doubt']:6d}  failed/interrupted: being handed to SMTP when a worker was killed")
    print(f"msgs stranded    {mail['unsent']:6d}  written, neither sent nor resolved at the end")
    print(f"msgs otherwise   {mail['other']:6d}  dropped or failed for another reason")
    print(f"messages by flow/status/reason: {mail['by']}")


if __name__ == "__main__":
    main()
