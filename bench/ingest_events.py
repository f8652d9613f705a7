"""Benchmark: ingesting events through the store (identity, merge, orders, carts, reactions)
against a baseline in the same run: inserting the same events as bare rows with one
hand-written executemany (what a store that resolves nothing would cost).

    python bench/ingest_events.py [--db sqlite|postgresql|both] [--repeat 3]

Prints the median per-event time of each, and min / median / max of the ratio of each run's pair (the
store, then the bare rows, in the same run). Uses the demo's sample shop
(about 2,500 events: views, signups, orders, order updates, carts, catalogue).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa

import core.pipeline as pipeline
from core.events import parse_event
from core.sections import validate_tenant
from core.store.db import make_engine, migrate
from core.store.tenants import upsert_tenant
from relance.demo.sampleshop import generate

NOW = datetime(2026, 11, 24, tzinfo=UTC)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def fresh_url(kind: str, workdir: str) -> tuple[str, object]:
    if kind == "sqlite":
        return f"sqlite:///{workdir}/{uuid.uuid4().hex}.db", None
    name = f"relance_bench_ingest_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name, (admin, name)


def drop(cleanup: object) -> None:
    if cleanup:
        admin, name = cleanup
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run_once(kind: str, workdir: str, raw: list[dict], reactions: bool) -> tuple[float, float]:
    url, cleanup = fresh_url(kind, workdir)
    try:
        engine = make_engine(url)
        migrate(engine)
        with engine.begin() as conn:
            tenant, _ = upsert_tenant(
                conn, validate_tenant({"name": "b", "platform": "woocommerce", "url": "https://b.example"}), NOW
            )
        events = [parse_event(r) for r in raw]
        saved = pipeline.reactions
        if not reactions:
            pipeline.reactions = lambda: ()
        pipeline.reactions()  # import the reacting modules before timing
        try:
            started = time.perf_counter()
            for i in range(0, len(events), 250):
                pipeline.ingest_batch(engine, tenant, events[i : i + 250], lambda: NOW)
            stored = (time.perf_counter() - started) / len(events)
        finally:
            pipeline.reactions = saved
        # Baseline: the same events as bare rows, one executemany per batch of 250.
        rows = [
            {
                "t": tenant.id,
                "m": f"baseline-{r['message_id']}",
                "ty": r["type"],
                "n": r.get("event", "identify"),
                "o": NOW,
                "r": NOW,
                "s": "bench",
                "p": json.dumps(r.get("properties", {})),
            }
            for r in raw
        ]
        insert = sa.text(
            "INSERT INTO events (tenant_id, message_id, type, name, occurred_at, received_at, source, properties) "
            "VALUES (:t, :m, :ty, :n, :o, :r, :s, :p)"
        )
        if kind == "postgresql":
            insert = sa.text(str(insert).replace(":p)", "CAST(:p AS JSONB))"))
        started = time.perf_counter()
        for i in range(0, len(rows), 250):
            with engine.begin() as conn:
                conn.execute(insert, rows[i : i + 250])
        baseline = (time.perf_counter() - started) / len(rows)
        engine.dispose()
        return stored, baseline
    finally:
        drop(cleanup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raw = generate(date(2026, 11, 24))
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"{len(raw)} events per run, medians of {args.repeat} runs")
    print(
        f"{'database':<11} {'reactions':<10} {'ingest ms/event':>16} {'bare insert ms/event':>21} "
        f"{'ratio min / med / max':>22}"
    )
    with tempfile.TemporaryDirectory() as workdir:
        for kind in kinds:
            for reactions in (False, True):
                results = [run_once(kind, workdir, raw, reactions) for _ in range(args.repeat)]
                stored = statistics.median(r[0] for r in results) * 1000
                base = statistics.median(r[1] for r in results) * 1000
                ratios = [r[0] / r[1] for r in results]  # each run's pair: the store, then the bare rows
                spread = f"{min(ratios):.1f} / {statistics.median(ratios):.1f} / {max(ratios):.1f}"
                label = "on" if reactions else "off"
                print(f"{kind:<11} {label:<10} {stored:>16.2f} {base:>21.3f} {spread:>22}")


if __name__ == "__main__":
    main()
