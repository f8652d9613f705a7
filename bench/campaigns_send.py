"""A campaign sent to a segment, against a flow reaching the same members, in the same run.

    .venv/bin/python bench/campaigns_send.py [--contacts 5000] [--rounds 3]

What is measured: N opted-in contacts in a segment of a tenant in PostgreSQL
(a private database). A: a campaign to the segment, from its start (the
audience fixed: N recipient rows) to the last batch (``run_due`` passes of
500 recipients: claimed, decided under consent, quiet hours and pressure,
messages written to the outbox, recipients settled), each pass in its own
transaction as the job does. B (baseline): the flows' path for the same
people: a custom flow triggered by the segment with
``include_existing_members`` (the scan starts N runs) whose due runs the
engine evaluates in batches of 500 (``process_runs``), one message each.
Between two measures every message, run, recipient and campaign is deleted.
Rounds alternate A and B (ABAB); the ratio is A's messages per second over
B's, printed with its min / median / max.
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
from sqlalchemy import delete, insert, select  # noqa: E402

NOW = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 11:00 in Paris: out of quiet hours
PG_ADMIN = os.environ.get("RELANCE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
DB_NAME = "relance_bench_campaigns"


def _setup(contacts_count: int):  # noqa: ANN202
    from core.sections import validate_tenant
    from core.segments.store.schema import segment_members
    from core.store.db import make_engine, migrate
    from core.store.schema import contacts
    from core.store.tenants import upsert_tenant

    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{DB_NAME}")
    migrate(engine)
    flow = {"trigger": {"segment": "loyal_customer", "include_existing_members": True},
            "steps": [{"send": "email", "template": "campaign/1"}]}  # fmt: skip
    raw = {"name": "bench", "platform": "woocommerce", "url": "https://bench.example", "timezone": "Europe/Paris",
           "flows": {"custom": {"members": flow}}}  # fmt: skip
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
        people = [
            {"tenant_id": tenant.id, "email": f"c{n}@example.fr", "first_name": f"C{n}", "email_consent": True,
             "email_consent_at": NOW - timedelta(days=30), "attributes": {}, "created_at": NOW, "updated_at": NOW}
            for n in range(contacts_count)
        ]  # fmt: skip
        ids = list(conn.execute(insert(contacts).returning(contacts.c.id), people).scalars())
        conn.execute(
            insert(segment_members),
            [{"tenant_id": tenant.id, "segment": "loyal_customer", "contact_id": i, "entered_at": NOW} for i in ids],
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    return engine, tenant


def _reset(engine, tenant) -> None:  # noqa: ANN001
    from core.campaigns.store.schema import campaign_recipients, campaigns
    from core.flows.store.schema import flow_runs
    from core.store.schema import messages

    with engine.begin() as conn:
        for table in (campaign_recipients, campaigns, messages, flow_runs):
            conn.execute(delete(table).where(table.c.tenant_id == tenant.id))


def _count(engine, tenant, flow: str) -> int:  # noqa: ANN001
    from core.store.schema import messages

    with engine.connect() as conn:
        return conn.execute(
            select(sa.func.count()).where(
                messages.c.tenant_id == tenant.id, messages.c.flow == flow, messages.c.status == "scheduled"
            )  # fmt: skip
        ).scalar_one()


def campaign(engine, tenant) -> tuple[float, int]:  # noqa: ANN001
    from core.campaigns import create_campaign
    from core.campaigns.sending import run_due

    with engine.begin() as conn:
        create_campaign(conn, tenant, {"name": "bench", "segment": "loyal_customer", "at": NOW.isoformat()}, NOW)
    started = time.perf_counter()
    while True:
        with engine.begin() as conn:
            report = run_due(conn, tenant, NOW)
        if not report.more and not report.started:
            break
    return time.perf_counter() - started, _count(engine, tenant, "campaign:bench")


def flow(engine, tenant) -> tuple[float, int]:  # noqa: ANN001
    from core.flows.engine import process_runs
    from core.flows.settings import tenant_flows
    from core.flows.starting import begin_for_members
    from core.flows.store.runs import claim_due_runs

    started = time.perf_counter()
    with engine.begin() as conn:
        begin_for_members(conn, tenant, tenant_flows(tenant.config.flows), NOW)
    while True:
        with engine.begin() as conn:
            due = claim_due_runs(conn, NOW, 500, tenant_id=tenant.id)
            if not due:
                break
            process_runs(conn, tenant, [run.id for run in due], NOW)
    return time.perf_counter() - started, _count(engine, tenant, "members")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    engine, tenant = _setup(args.contacts)
    rates: dict[str, list[float]] = {"A campaign": [], "B flow": []}
    ratios: list[float] = []
    try:
        for round_ in range(1, args.rounds + 1):
            measured = {}
            for name, run in (("A campaign", campaign), ("B flow", flow)):
                _reset(engine, tenant)
                seconds, sent = run(engine, tenant)
                assert sent == args.contacts, f"{name}: {sent} messages for {args.contacts} contacts"
                measured[name] = sent / seconds
                rates[name].append(measured[name])
                print(f"round {round_} {name}: {sent} messages in {seconds:.2f} s, {measured[name]:.0f} messages/s")
            ratios.append(measured["A campaign"] / measured["B flow"])
    finally:
        engine.dispose()
    for name, values in rates.items():
        print(f"{name}: median {statistics.median(values):.0f} messages/s")
    print(f"ratio A/B (campaign over flow, messages/s): min {min(ratios):.2f} median {statistics.median(ratios):.2f} "
          f"max {max(ratios):.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
