"""Benchmark: a first sync's pages replayed through the store, against the bare rows of the same events.

    .venv/bin/python bench/ingest_replay.py --platform woocommerce --orders 10000 --db postgresql --repeat 3

The platform's fake shop (``bench/connectors_sync.py`` for WooCommerce, ``bench/magento_sync.py``,
``bench/prestashop_sync.py``) is synced once into a scratch SQLite store, the pages that
``connectors.sync`` hands to ``core.pipeline.ingest_page`` recorded as they come (not timed). Then,
alternated ``--repeat`` times (ABAB), each in a fresh process and a fresh database (PostgreSQL database
``$RELANCE_BENCH_PG_DB``, default ``relance_bench_replay``, created and dropped; or a SQLite file):

- ``bare`` (the baseline): every recorded event inserted as a bare ``events`` row, one
  hand-written ``executemany`` and one transaction per page: what a store that resolves nothing costs;
- ``store``: every page through ``ingest_page(backfill=True)``, one transaction per page as a
  first sync commits them, with every reaction on; then ``core.operations.finish_backfill``
  (timed apart);
- with ``--against CHECKOUT`` (another checkout of Relance, e.g. ``git worktree add /tmp/old main~3``),
  ``store`` run by that checkout's code too, in the same alternation: printed as this ÷ that.

The sync's download and mapping are left out: this measures the store alone, so that a change to it
can be measured through a virtual machine's noise (a whole first sync of the same code ran 7 to 13 s
from one run to the next). Printed: each one's wall and CPU seconds (the store's waits on the
database are its wall minus its CPU), and min / median / max of store ÷ bare (wall).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
#: The checkout whose code a child runs (``--against``), else this one.
ROOT = Path(os.environ.get("RELANCE_REPLAY_ROOT") or HERE)
sys.path.insert(0, str(HERE / "bench"))
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 24, tzinfo=UTC)
os.environ.setdefault("RELANCE_BENCH_PG_DB", "relance_bench_replay")


def record(platform: str, orders: int, path: Path) -> int:
    """Sync the platform's fake shop into a scratch SQLite file, recording the pages ``ingest_page`` is given."""
    import importlib

    import connectors_sync

    import connectors.sync as sync

    context = multiprocessing.get_context("spawn")
    server, url = connectors_sync._shop(platform, orders, context)
    pages: list[tuple[list[Any], bool]] = []
    store = sync.ingest_page

    def recording(conn: Any, tenant: Any, page: Any, now: datetime, *, backfill: bool = False) -> Any:
        page = list(page)
        pages.append((page, backfill))
        return store(conn, tenant, page, now, backfill=backfill)

    sync.ingest_page = recording
    try:
        module = importlib.import_module(connectors_sync.PLATFORMS[platform].stem)
        module.child_sync(url, f"sqlite:///{path.with_suffix('.db')}")
    finally:
        sync.ingest_page = store
        server.terminate()
    path.write_bytes(pickle.dumps(pages))
    return sum(len(page) for page, _ in pages)


def _tenant(engine: Any, platform: str) -> Any:
    from core.sections import validate_tenant
    from core.store.db import migrate
    from core.store.tenants import upsert_tenant

    migrate(engine)
    with engine.begin() as conn:
        raw = {"name": "replay", "platform": platform, "url": "https://replay.example"}
        tenant, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
    return tenant


def child_store(path: str, db_url: str, platform: str) -> dict[str, float]:
    from core.operations import finish_backfill
    from core.pipeline import ingest_page, reactions
    from core.store.db import make_engine

    pages = pickle.loads(Path(path).read_bytes())  # noqa: S301 - the file this bench wrote
    engine = make_engine(db_url)
    tenant = _tenant(engine, platform)
    reactions()  # import the reacting modules before timing
    wall, cpu = time.perf_counter(), time.process_time()
    for page, backfill in pages:
        with engine.begin() as conn:
            ingest_page(conn, tenant, page, NOW, backfill=backfill)
    pages_wall, pages_cpu = time.perf_counter() - wall, time.process_time() - cpu
    wall, cpu = time.perf_counter(), time.process_time()
    with engine.begin() as conn:
        finish_backfill(conn, tenant, NOW)
    result = {"wall": pages_wall, "cpu": pages_cpu}
    result.update(finish_wall=time.perf_counter() - wall, finish_cpu=time.process_time() - cpu)
    engine.dispose()
    return result


def child_bare(path: str, db_url: str, platform: str) -> dict[str, float]:
    import sqlalchemy as sa

    from core.store.db import make_engine

    pages = pickle.loads(Path(path).read_bytes())  # noqa: S301 - the file this bench wrote
    engine = make_engine(db_url)
    tenant = _tenant(engine, platform)
    properties = "CAST(:p AS JSONB)" if engine.dialect.name == "postgresql" else ":p"
    insert = sa.text(
        "INSERT INTO events (tenant_id, message_id, type, name, occurred_at, received_at, source, properties) "
        f"VALUES (:t, :m, :ty, :n, :o, :r, :s, {properties})"
    )
    wall, cpu = time.perf_counter(), time.process_time()
    for page, _backfill in pages:
        rows = [
            {
                "t": tenant.id,
                "m": event.message_id,
                "ty": event.type.value,
                "n": event.name,
                "o": event.timestamp,
                "r": NOW,
                "s": event.source,
                "p": json.dumps(dict(event.properties), default=str),
            }
            for event in page
        ]
        with engine.begin() as conn:
            conn.execute(insert, rows)
    result = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    engine.dispose()
    return result


def _child(kind: str, *args: str, root: Path = HERE) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", kind, *args]
    env = {**os.environ, "RELANCE_REPLAY_ROOT": str(root)}
    out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=root, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=["woocommerce", "magento", "prestashop"], default="woocommerce")
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout whose store runs the same pages too")
    args = parser.parse_args()
    if args.against and not (args.against / "core" / "pipeline.py").is_file():
        parser.error(f"--against {args.against}: not a Relance checkout (no core/pipeline.py there)")
    from connectors_sync import _drop_pg, _fresh_db

    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "pages.pickle"
        events = record(args.platform, args.orders, path)
        print(f"{args.platform}, {args.orders:,} orders: {events:,} events recorded; {args.db}, {args.repeat} pairs")
        bare: list[dict[str, float]] = []
        store: list[dict[str, float]] = []
        other: list[dict[str, float]] = []
        runs = [("bare", bare, HERE), ("store", store, HERE)]
        if args.against:
            runs.append(("store", other, args.against.resolve()))
        try:
            for _ in range(args.repeat):
                for kind, into, root in runs:
                    db_url = _fresh_db(args.db, Path(workdir))
                    into.append(_child(kind, str(path), db_url, args.platform, root=root))
        finally:
            if args.db == "postgresql":
                _drop_pg()
    for name, measured in (("bare", bare), ("store", store), (f"store of {args.against}", other)):
        if measured:
            wall, cpu = _spread([r["wall"] for r in measured]), _spread([r["cpu"] for r in measured])
            print(f"{name}: wall {wall} s, CPU {cpu} s")
    print(f"finish_backfill wall {_spread([r['finish_wall'] for r in store])} s")
    print(f"RESULT store ÷ bare (wall): {_spread([s['wall'] / b['wall'] for s, b in zip(store, bare, strict=True)])}")
    if other:
        for key in ("wall", "cpu"):
            ratios = [s[key] / o[key] for s, o in zip(store, other, strict=True)]
            print(f"RESULT store ÷ store of {args.against} ({key}): {_spread(ratios)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child = {"store": child_store, "bare": child_bare}[sys.argv[2]]
        print(json.dumps(child(*sys.argv[3:])))
    else:
        main()
