"""Benchmark: ``core.reports.build_report`` against a hand-written aggregate of the same numbers, on PostgreSQL.

    .venv/bin/python bench/report.py                # the issue's size: 1M messages, 200k orders (~3 minutes to build)
    .venv/bin/python bench/report.py --scale 0.1    # 100k messages, 20k orders

A tenant of ``200,000 x scale`` contacts, ``1,000,000 x scale`` messages over a
year (8 flows of 3 steps, 10 % in two campaigns, an A/B split in one flow and
one campaign, 3 % bounced, a 10 % holdout in two flows), their opens (40 %),
clicks (10 %, some twice), unsubscribes and complaints as the link pages record
them, ``200,000 x scale`` orders (90 % paid, some in USD) and the credits of
30 % of them, is generated with set-based SQL into its own database,
``relance_bench_report``, created and dropped.

Timed, alternately (ABAB), ``--repeat`` times each:

- ``hand-written``: the same numbers (per flow, step, campaign and variant,
  channel and day: sent, delivered, bounced, opened, clicked, unsubscribed,
  complaints; distinct recipients at each level; credited orders and revenue;
  the holdout comparison per flow) in four SQL queries written by hand, their
  rows read into Python;
- ``report``: ``build_report(conn, tenant, None, None)``, the whole report with
  its statistics.

Printed: each run's seconds, the ratio report / hand-written of each ABAB pair
and its min / median / max (the aim: at most 2), and a check that both give the
same totals.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.reports import build_report  # noqa: E402
from core.sections import validate_tenant  # noqa: E402
from core.store.db import make_engine, migrate  # noqa: E402
from core.store.tenants import upsert_tenant  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
DATABASE = "relance_bench_report"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FLOWS = "abandoned_cart welcome win_back browse_abandonment cross_sell replenishment birthday sunset".split()

GENERATE = [
    (
        "contacts",
        """INSERT INTO contacts (tenant_id, email, attributes, email_consent, created_at, updated_at)
        SELECT :t, 'c' || g || '@bench.example', '{}'::jsonb, true, :now - interval '2 years', :now
        FROM generate_series(1, :contacts) g""",
    ),
    (
        "messages",
        """INSERT INTO messages (tenant_id, contact_id, flow, run_id, step, campaign, variant, channel, marketing,
                                 template, context, dedupe_key, status, due_at, sent_at, attempts, created_at, updated_at)
        SELECT :t, contact, flow, NULL, step, campaign,
               CASE WHEN flow = 'welcome' OR campaign = 'spring' THEN (ARRAY['a','b'])[1 + g % 2] END,
               CASE WHEN g % 20 = 0 THEN 'sms' ELSE 'email' END, true, flow || '/' || step, '{}'::jsonb,
               'bench:' || g,
               CASE WHEN flow IN ('win_back', 'abandoned_cart') AND contact % 10 = 0 THEN 'holdout'
                    WHEN random() < 0.03 THEN 'bounced' ELSE 'sent' END,
               ts, ts, 1, ts, ts
        FROM (SELECT g, :first + floor(random() * :contacts)::bigint AS contact,
                     CASE WHEN g % 10 = 0 THEN 'campaign' ELSE (CAST(:flows AS text[]))[1 + g % 8] END AS flow,
                     CASE WHEN g % 10 = 0 THEN (ARRAY['spring','autumn'])[1 + (g / 10) % 2] END AS campaign,
                     CASE WHEN g % 10 = 0 THEN 1 ELSE 1 + (g / 8) % 3 END AS step,
                     :now - random() * interval '365 days' AS ts
              FROM generate_series(1, :messages) g) s""",
    ),
    ("unsent", "UPDATE messages SET sent_at = NULL WHERE tenant_id = :t AND status <> 'sent'"),
    (
        "opens and clicks",
        """INSERT INTO events (tenant_id, message_id, type, name, contact_id, occurred_at, received_at, source, properties)
        SELECT :t, 'relance-' || name || '-' || id || '-' || k, 'track', name, contact_id, at, at, 'relance',
               jsonb_build_object('message_id', id, 'flow', flow, 'step', step)
        FROM (SELECT m.id, m.contact_id, m.flow, m.step, m.sent_at + interval '1 hour' AS at, r, x.name, x.k
              FROM (SELECT *, random() AS r FROM messages WHERE tenant_id = :t AND status = 'sent') m
              CROSS JOIN (VALUES ('email_opened', 0, 0.40), ('email_clicked', 1, 0.10), ('email_clicked', 2, 0.02),
                                 ('newsletter_unsubscribed', 0, 0.005)) x(name, k, p)
              WHERE m.r < x.p) s""",
    ),
    (
        "complaints",
        """INSERT INTO message_suppressions (tenant_id, channel, address, reason, message_id, created_at)
        SELECT :t, 'email', 'c' || id || '@bench.example', 'complaint', id, sent_at
        FROM messages WHERE tenant_id = :t AND status = 'sent' AND id % 1000 = 7""",
    ),
    (
        "orders",
        """INSERT INTO orders (tenant_id, source, external_id, contact_id, status, currency, total,
                               created_at, updated_at, paid_at, ingested_at)
        SELECT :t, 'woocommerce', 'o' || g, :first + floor(random() * :contacts)::bigint,
               CASE WHEN random() < 0.9 THEN 'paid' ELSE 'refunded' END,
               CASE WHEN g % 50 = 0 THEN 'USD' ELSE 'EUR' END,
               round((8 + random() * 150)::numeric, 2), ts, ts, ts, ts
        FROM (SELECT g, :now - random() * interval '365 days' AS ts FROM generate_series(1, :orders) g) s""",
    ),
    (
        "credits",
        """INSERT INTO order_attributions (tenant_id, order_id, message_id, flow, step, campaign, variant, kind,
                                           touched_at, order_at, currency, amount, computed_at)
        SELECT :t, o.id, m.id, m.flow, m.step, m.campaign, m.variant, 'click', m.sent_at, o.created_at, o.currency,
               CASE WHEN o.status = 'paid' THEN o.total ELSE 0 END, :now
        FROM orders o
        JOIN LATERAL (SELECT id, flow, step, campaign, variant, sent_at FROM messages
                      WHERE tenant_id = :t AND contact_id = o.contact_id AND sent_at <= o.created_at
                      ORDER BY sent_at DESC LIMIT 1) m ON true
        WHERE o.tenant_id = :t AND o.id % 10 < 3""",
    ),
]

SENT = "m.status IN ('sent', 'bounced')"
HAND_WRITTEN = {
    "messages": f"""
        WITH e AS (
            SELECT (properties->>'message_id')::bigint AS mid,
                   max(CASE WHEN name IN ('email_opened', 'email_clicked') THEN 1 ELSE 0 END) AS o,
                   max(CASE WHEN name IN ('email_clicked', 'sms_clicked') THEN 1 ELSE 0 END) AS c,
                   max(CASE WHEN name = 'newsletter_unsubscribed' THEN 1 ELSE 0 END) AS u
            FROM events WHERE tenant_id = :t AND source = 'relance'
              AND name IN ('email_opened', 'email_clicked', 'sms_clicked', 'newsletter_unsubscribed')
            GROUP BY 1),
        s AS (SELECT DISTINCT message_id AS mid FROM message_suppressions
              WHERE tenant_id = :t AND reason = 'complaint' AND message_id IS NOT NULL)
        SELECT m.flow, m.step, m.campaign, m.variant, m.channel,
               to_char(coalesce(m.sent_at, m.due_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
               count(*), count(*) FILTER (WHERE m.status = 'sent'), count(*) FILTER (WHERE m.status = 'bounced'),
               coalesce(sum(e.o), 0), coalesce(sum(e.c), 0), coalesce(sum(e.u), 0), count(s.mid)
        FROM messages m LEFT JOIN e ON e.mid = m.id LEFT JOIN s ON s.mid = m.id
        WHERE m.tenant_id = :t AND {SENT}
        GROUP BY 1, 2, 3, 4, 5, 6""",
    "recipients": f"""
        SELECT m.flow, m.step, m.campaign, m.variant, grouping(m.flow, m.step, m.campaign, m.variant),
               count(DISTINCT m.contact_id)
        FROM messages m WHERE m.tenant_id = :t AND {SENT}
        GROUP BY GROUPING SETS ((m.flow, m.campaign), (m.flow, m.step, m.campaign), (m.flow, m.campaign, m.variant),
                                (m.flow, m.step, m.campaign, m.variant), (m.campaign), (m.campaign, m.variant), ())""",
    "orders": """
        SELECT flow, step, campaign, variant, currency, to_char(order_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
               count(*) FILTER (WHERE amount > 0), sum(amount)
        FROM order_attributions WHERE tenant_id = :t GROUP BY 1, 2, 3, 4, 5, 6""",
    "holdout": """
        WITH touched AS (
            SELECT flow, campaign, contact_id, max(CASE WHEN status = 'holdout' THEN 1 ELSE 0 END) AS held,
                   min(coalesce(sent_at, due_at)) AS first_at
            FROM messages WHERE tenant_id = :t AND status IN ('sent', 'bounced', 'holdout')
            GROUP BY flow, campaign, contact_id),
        per_contact AS (
            SELECT t.flow, t.campaign, t.held, count(o.id) AS n, coalesce(sum(o.total), 0) AS spent
            FROM touched t LEFT JOIN orders o
              ON o.tenant_id = :t AND o.contact_id = t.contact_id AND o.status IN ('paid', 'completed')
             AND o.currency = 'EUR' AND o.created_at >= t.first_at AND o.created_at < t.first_at + interval '5 days'
            GROUP BY t.flow, t.campaign, t.held, t.contact_id)
        SELECT flow, campaign, held, count(*), count(*) FILTER (WHERE n > 0), sum(spent),
               sum(spent::float8 * spent::float8)
        FROM per_contact
        GROUP BY flow, campaign, held""",
}


def generate(engine: sa.Engine, tenant_id: int, scale: float) -> None:
    params = {
        "t": tenant_id,
        "now": NOW,
        "contacts": int(200_000 * scale),
        "messages": int(1_000_000 * scale),
        "orders": int(200_000 * scale),
        "flows": FLOWS,
    }
    with engine.begin() as conn:
        params["first"] = conn.execute(sa.text("SELECT coalesce(max(id), 0) + 1 FROM contacts")).scalar_one()
        for name, sql in GENERATE:
            started = time.perf_counter()
            conn.execute(sa.text(sql), params)
            print(f"  {name:<17} {time.perf_counter() - started:6.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def hand_written(conn: sa.Connection, tenant_id: int) -> dict[str, list]:
    return {name: conn.execute(sa.text(sql), {"t": tenant_id}).all() for name, sql in HAND_WRITTEN.items()}


def _once(engine: sa.Engine, work) -> tuple[float, object]:
    with engine.connect() as conn:
        started = time.perf_counter()
        result = work(conn)
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1 = 1M messages, 200k orders, 200k contacts")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse the database of a previous --keep run")
    args = parser.parse_args()
    admin = make_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    engine = make_engine(ADMIN_URL.rsplit("/", 1)[0] + f"/{DATABASE}")
    try:
        migrate(engine)
        raw = {"name": "bench", "platform": "woocommerce", "url": "https://bench.example", "currency": "EUR"}
        with engine.begin() as conn:
            tenant, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
        if not args.reuse:
            print(f"tenant: {int(1_000_000 * args.scale):,} messages, {int(200_000 * args.scale):,} orders")
            generate(engine, tenant.id, args.scale)
        run(engine, tenant.id, args.repeat)
    finally:
        engine.dispose()
        if not (args.keep or args.reuse):
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))


def run(engine: sa.Engine, tenant_id: int, repeat: int) -> None:
    _once(engine, lambda conn: hand_written(conn, tenant_id))  # warm the cache once for both
    ratios = []
    report: dict = {}
    baseline: dict = {}
    for round_ in range(1, repeat + 1):
        a, baseline = _once(engine, lambda conn: hand_written(conn, tenant_id))
        b, report = _once(engine, lambda conn: build_report(conn, tenant_id))
        ratios.append(b / a)
        print(f"  round {round_}: hand-written {a:6.2f} s   report {b:6.2f} s   ratio {b / a:5.2f}", flush=True)
    print(
        f"ratio report / hand-written over {repeat} ABAB rounds: "
        f"min {min(ratios):.2f}  median {statistics.median(ratios):.2f}  max {max(ratios):.2f}  (aim: <= 2)"
    )
    sent = sum(row[6] for row in baseline["messages"])
    opened = sum(row[9] for row in baseline["messages"])
    eur = [row for row in baseline["orders"] if row[4] == "EUR"]
    orders = sum(row[6] for row in eur)
    revenue = sum((Decimal(row[7]) for row in eur), Decimal(0)).quantize(Decimal("0.01"))
    recipients = next(row[5] for row in baseline["recipients"] if row[4] == 15)
    totals = report["totals"]
    same = (totals["sent"], totals["opened"], totals["orders"], totals["revenue"], totals["recipients"]) == (
        sent, opened, orders, str(revenue), recipients
    )  # fmt: skip
    print(
        f"totals: sent {totals['sent']:,}, opened {totals['opened']:,}, recipients {totals['recipients']:,}, "
        f"orders {totals['orders']:,}, revenue {totals['revenue']} EUR; "
        f"same as the hand-written aggregate: {'yes' if same else 'NO'}"
    )
    held = {flow: data["holdout"] for flow, data in report["flows"].items() if data["holdout"]}
    for flow, h in sorted(held.items()):
        print(
            f"holdout {flow}: recipients {h['recipients']['conversion_rate']:.2%} of {h['recipients']['contacts']:,}, "
            f"holdout {h['holdout']['conversion_rate']:.2%} of {h['holdout']['contacts']:,}"
        )


if __name__ == "__main__":
    main()
