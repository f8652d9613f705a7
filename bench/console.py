"""Benchmark: the console's agency overview (50 tenants) and tenant dashboard (1M messages), each against
the query that feeds it alone.

    .venv/bin/python bench/console.py                           # 50 tenants, a tenant with 1,000,000 messages
    .venv/bin/python bench/console.py --messages 200000 --repeat 5

PostgreSQL only (``RELANCE_BENCH_PG_URL``, default the test server): a
database ``relance_bench_console`` is created, filled with ``generate_series``
and dropped at the end (``--keep`` keeps it for another run).

Data: ``--tenants`` tenants (50) with 1,000 contacts, 5,000 messages and 500
paid orders each over 90 days; one more tenant, ``big``, with 100,000
contacts, ``--messages`` messages (1,000,000) over 90 days in four flows (2 %
bounced), an ``email_opened`` event for one message in five and an
``email_clicked`` for one in twenty, a paid order 30 minutes after each
clicked message (50,000); then ``ANALYZE``.

Measured, alternating A and B (ABAB) ``--repeat`` times (3), after one
warm-up of each:

- overview: A = ``GET /console/`` signed in as an agency admin (Flask test
  client in this process: session check, queries, SVG charts, template), B =
  ``core.console.store.figures.tenant_health`` for every tenant alone;
- dashboard: A = ``GET /console/t/big/`` (30 days), B = the report query
  alone (``core.reports.build_report``, what ``relance report`` runs), with the
  revenue per day and the segment counts the page adds, for ``big``.

Orders are credited to messages by the attribution area first
(``core.attribution.attribute.recompute``, timed apart).

Printed: A and B in milliseconds for each round, and min / median / max of
the ratio A / B (how much the page adds to its queries).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from core.console.accounts import Role, hash_password  # noqa: E402
from core.console.store.figures import revenue_per_day, segment_counts, segment_trends, tenant_health  # noqa: E402
from core.console.store.users import add_user  # noqa: E402
from core.reports.report import build_report  # noqa: E402
from core.sections import validate_tenant  # noqa: E402
from core.store.db import make_engine, migrate  # noqa: E402
from core.store.tenants import list_tenants, upsert_tenant  # noqa: E402

PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB = "relance_bench_console"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PASSWORD = "bench password 123"  # noqa: S105 - a benchmark's throwaway user


def _fill(conn: sa.Connection, tenant_id: int, contacts: int, messages: int, orders: int, events: bool) -> None:
    params = {"t": tenant_id, "now": NOW, "contacts": contacts, "messages": messages, "orders": orders}
    conn.execute(
        sa.text(
            "INSERT INTO contacts (tenant_id, email, attributes, email_consent, created_at, updated_at) "
            "SELECT :t, 'c' || g || '-' || :t || '@example.com', '{}', true, :now, :now "
            "FROM generate_series(1, :contacts) g"
        ),
        params,
    )
    first = conn.execute(sa.text("SELECT min(id) FROM contacts WHERE tenant_id = :t"), params).scalar_one()
    params["first"] = first
    conn.execute(
        sa.text(
            "INSERT INTO messages (tenant_id, contact_id, flow, step, channel, marketing, template, context, "
            "dedupe_key, status, due_at, sent_at, attempts, created_at, updated_at) "
            "SELECT :t, :first + (g % :contacts), "
            "(ARRAY['abandoned_cart','welcome','win_back','cross_sell'])[1 + g % 4], 1, 'email', true, 'x/1', '{}', "
            "'k' || g, CASE WHEN g % 50 = 0 THEN 'bounced' ELSE 'sent' END, ts, ts, 1, ts, ts "
            "FROM (SELECT g, CAST(:now AS timestamptz) - (g % 129600) * interval '1 minute' AS ts "
            "FROM generate_series(1, :messages) g) s"
        ),
        params,
    )
    if events:
        for name, every in (("email_opened", 5), ("email_clicked", 20)):
            conn.execute(
                sa.text(
                    "INSERT INTO events (tenant_id, message_id, type, name, contact_id, occurred_at, received_at, "
                    "source, properties) "
                    "SELECT m.tenant_id, :name || '-' || m.id, 'track', :name, m.contact_id, "
                    "m.sent_at + interval '10 minutes', m.sent_at, 'relance', "
                    "jsonb_build_object('message_id', m.id, 'flow', m.flow, 'step', 1) "
                    "FROM messages m WHERE m.tenant_id = :t "
                    "AND CAST(substr(m.dedupe_key, 2) AS integer) % :every = 0"
                ),
                {**params, "name": name, "every": every},
            )
    conn.execute(
        sa.text(
            "INSERT INTO orders (tenant_id, source, external_id, contact_id, status, currency, total, "
            "created_at, updated_at, paid_at, ingested_at) "
            "SELECT :t, 'woocommerce', 'o' || g, :first + ((g * 20) % :contacts), 'paid', 'EUR', 20 + g % 80, "
            "ts, ts, ts, :now FROM (SELECT g, CAST(:now AS timestamptz) - ((g * 20) % 129600) * interval '1 minute' "
            "+ interval '30 minutes' AS ts FROM generate_series(1, :orders) g) s"
        ),
        params,
    )


def setup(url: str, tenants: int, messages: int) -> sa.Engine:
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DB}).first()
    engine = make_engine(url)
    if exists:
        print(f"reusing database {DB} (drop it or run without --keep to rebuild)")
        return engine
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))
    migrate(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        for number in range(tenants):
            raw = {"name": f"shop{number:02d}", "platform": "woocommerce", "url": f"https://shop{number}.example.com"}
            tenant, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
            _fill(conn, tenant.id, 1000, 5000, 500, events=False)
        big, _ = upsert_tenant(
            conn, validate_tenant({"name": "big", "platform": "woocommerce", "url": "https://big.example.com"}), NOW
        )
        _fill(conn, big.id, 100_000, messages, messages // 20, events=True)
        add_user(conn, "bench", Role.AGENCY_ADMIN, None, hash_password(PASSWORD), NOW)
    loaded = time.perf_counter() - started
    from core.attribution.attribute import recompute

    started = time.perf_counter()
    with engine.connect() as conn:
        every = list_tenants(conn)
    for tenant in every:
        recompute(engine, tenant, NOW)
    credited = time.perf_counter() - started
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("ANALYZE"))
        attributed = conn.execute(sa.text("SELECT count(*) FROM order_attributions")).scalar_one()
    print(f"loaded {tenants} tenants and 'big' with {messages:,} messages in {loaded:.0f} s")
    print(f"attribution: {attributed:,} orders credited in {credited:.0f} s")
    return engine


def _timed(work) -> float:
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) * 1000


def compare(name: str, page, query, repeat: int) -> None:
    page()
    query()  # warm-up: caches, prepared plans, templates compiled
    ratios = []
    for round_ in range(repeat):
        a = _timed(page)
        b = _timed(query)
        ratios.append(a / b)
        print(f"  {name} round {round_ + 1}: page {a:8.1f} ms   query alone {b:8.1f} ms   ratio {a / b:5.2f}")
    print(
        f"{name}: ratio page / query alone  min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  "
        f"max {max(ratios):.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database for another run")
    args = parser.parse_args()
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{DB}"
    engine = setup(url, args.tenants, args.messages)
    try:
        from relance.settings import Settings
        from relance.wiring import Runtime
        from relance.wsgi import web_app

        settings = Settings(
            database_url=url,
            redis_url="redis://127.0.0.1:1/0",  # no Redis: the page shows it, the figures are the same
            data_dir=Path("/tmp/relance-bench-console"),
            secret_key="bench-secret-key-0123456789",
            base_url="http://relance.bench",
        )
        app = web_app(Runtime(settings=settings, engine=engine, clock=lambda: NOW), TESTING=True)
        client = app.test_client()
        import re

        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/login").get_data(as_text=True))
        assert token, "no login form"
        signed = client.post("/console/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token[1]})
        assert signed.status_code == 302, signed.status_code
        with engine.connect() as conn:
            tenants = list_tenants(conn)
        ids = [t.id for t in tenants]
        big = next(t for t in tenants if t.name == "big")

        def overview_page() -> None:
            response = client.get("/console/")
            assert response.status_code == 200 and b"big" in response.data

        def overview_query() -> None:
            with engine.connect() as conn:
                tenant_health(conn, ids, NOW, 30)

        def dashboard_page() -> None:
            response = client.get("/console/t/big/")
            assert response.status_code == 200 and b"abandoned_cart" in response.data

        report_ms: list[float] = []

        def dashboard_query() -> None:
            with engine.connect() as conn:
                report_ms.append(_timed(lambda: build_report(conn, big.id, NOW - timedelta(days=30), NOW)))
                revenue_per_day(conn, big.id, big.config.currency, NOW - timedelta(days=30), NOW)
                segment_counts(conn, big.id)
                segment_trends(conn, big.id, NOW, 30)

        with engine.connect() as conn:
            counted = conn.execute(sa.text("SELECT count(*) FROM messages WHERE tenant_id = :t"), {"t": big.id})
            print(f"{len(ids)} tenants; 'big' holds {counted.scalar_one():,} messages")
        compare(f"agency overview ({len(ids)} tenants)", overview_page, overview_query, args.repeat)
        compare("tenant dashboard (big, 30 days)", dashboard_page, dashboard_query, args.repeat)
        print(
            "  of the dashboard's queries, build_report alone (ms): " + ", ".join(f"{ms:.1f}" for ms in report_ms[1:])
        )
    finally:
        engine.dispose()
        if not args.keep:
            admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
