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
  ``store`` run by that checkout's code too, in the same alternation: printed as this ÷ that;
- with ``--floor``: ``floor``, the rows the first ``store`` run left in every table it wrote (contacts,
  identities, consents, events, orders and their lines, products, metrics, memberships...) written again
  into a fresh database with the cheapest bulk write each database has and nothing else (PostgreSQL: one
  ``COPY ... FROM STDIN`` per table of the text ``COPY ... TO STDOUT`` gave; SQLite: one ``executemany``
  per table), in one transaction, indexes and foreign keys included: what any store that keeps those
  rows must spend at least. Printed as store ÷ floor.

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


def child_store(path: str, db_url: str, platform: str, dump: str = "") -> dict[str, float]:
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
    if dump:
        _dump(engine, Path(dump))
    engine.dispose()
    return result


def _written_tables(engine: Any) -> list[str]:
    """The tables in the order their foreign keys allow filling them (the schema's, then any other)."""
    import sqlalchemy as sa

    from core.store.schema import metadata

    present = set(sa.inspect(engine).get_table_names())
    ordered = [table.name for table in metadata.sorted_tables if table.name in present]
    return ordered + sorted(present - set(ordered))


def _dump(engine: Any, into: Path) -> None:
    """Every row the store left in a table (every table but the tenants' and Alembic's: a fresh database holds
    nothing else, and ``child_floor`` creates those), one file per table, in the order of ``_written_tables``."""
    into.mkdir(parents=True, exist_ok=True)
    skip = {"tenants", "alembic_version"}
    order = []
    for name in _written_tables(engine):
        if name in skip:
            continue
        if engine.dialect.name == "postgresql":
            raw = engine.raw_connection()
            try:
                cursor = raw.driver_connection.cursor()
                data = bytearray()
                with cursor.copy(f'COPY "{name}" TO STDOUT') as copy:
                    for block in copy:
                        data += block
            finally:
                raw.close()
            if data:
                (into / f"{name}.copy").write_bytes(bytes(data))
                order.append(name)
        else:
            with engine.connect() as conn:
                rows = [tuple(row) for row in conn.exec_driver_sql(f'SELECT * FROM "{name}"')]  # noqa: S608
            if rows:
                (into / f"{name}.rows").write_bytes(pickle.dumps(rows))
                order.append(name)
    (into / "order.json").write_text(json.dumps(order))


def child_floor(dump: str, db_url: str, platform: str) -> dict[str, float]:
    """The rows of ``_dump`` written into a fresh database in one transaction, the cheapest way it has."""
    from core.store.db import make_engine

    source = Path(dump)
    order = json.loads((source / "order.json").read_text())
    engine = make_engine(db_url)
    _tenant(engine, platform)
    postgresql = engine.dialect.name == "postgresql"
    data = {
        name: (source / f"{name}.copy").read_bytes()
        if postgresql
        else pickle.loads((source / f"{name}.rows").read_bytes())  # noqa: S301 - the file this bench wrote
        for name in order
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        wall, cpu = time.perf_counter(), time.process_time()
        for name in order:
            if postgresql:
                with cursor.copy(f'COPY "{name}" FROM STDIN') as copy:
                    copy.write(data[name])
            else:
                holes = ", ".join("?" * len(data[name][0]))
                cursor.executemany(f'INSERT INTO "{name}" VALUES ({holes})', data[name])  # noqa: S608
        raw.driver_connection.commit()
        result = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
    finally:
        raw.close()
    result["rows"] = float(sum(data[name].count(b"\n") if postgresql else len(data[name]) for name in order))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=["woocommerce", "magento", "prestashop"], default="woocommerce")
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", type=Path, help="another checkout whose store runs the same pages too")
    parser.add_argument("--floor", action="store_true", help="also write the stored rows alone (``floor``)")
    args = parser.parse_args()
    if args.against and not (args.against / "core" / "pipeline.py").is_file():
        parser.error(f"--against {args.against}: not a Relance checkout (no core/pipeline.py there)")
    from connectors_sync import _drop_pg, _fresh_db, _spread

    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "pages.pickle"
        events = record(args.platform, args.orders, path)
        print(f"{args.platform}, {args.orders:,} orders: {events:,} events recorded; {args.db}, {args.repeat} pairs")
        bare: list[dict[str, float]] = []
        store: list[dict[str, float]] = []
        other: list[dict[str, float]] = []
        floor: list[dict[str, float]] = []
        runs = [("bare", bare, HERE), ("store", store, HERE)]
        if args.against:
            runs.append(("store", other, args.against.resolve()))
        dump = Path(workdir) / "rows"
        if args.floor:
            runs.append(("floor", floor, HERE))
        try:
            for _ in range(args.repeat):
                for kind, into, root in runs:
                    db_url = _fresh_db(args.db, Path(workdir))
                    extra = [str(dump)] if kind == "store" and args.floor and not store and root == HERE else []
                    source = str(dump) if kind == "floor" else str(path)
                    into.append(_child(kind, source, db_url, args.platform, *extra, root=root))
        finally:
            if args.db == "postgresql":
                _drop_pg()
    if floor:
        print(f"floor: {int(floor[0]['rows']):,} rows the store wrote, in one transaction")
    for name, measured in (("bare", bare), ("store", store), (f"store of {args.against}", other), ("floor", floor)):
        if measured:
            wall, cpu = _spread([r["wall"] for r in measured]), _spread([r["cpu"] for r in measured])
            print(f"{name}: wall {wall} s, CPU {cpu} s")
    print(f"finish_backfill wall {_spread([r['finish_wall'] for r in store])} s")
    print(f"RESULT store ÷ bare (wall): {_spread([s['wall'] / b['wall'] for s, b in zip(store, bare, strict=True)])}")
    if floor:
        # the floor writes the finish's rows too (metrics, memberships): the store's time with its finish
        whole = [(s["wall"] + s["finish_wall"]) / f["wall"] for s, f in zip(store, floor, strict=True)]
        print(f"RESULT store with finish_backfill ÷ floor (wall): {_spread(whole)}")
        bare_floor = [b["wall"] / f["wall"] for b, f in zip(bare, floor, strict=True)]
        print(f"RESULT bare ÷ floor (wall): {_spread(bare_floor)}")
    if other:
        for key in ("wall", "cpu"):
            ratios = [s[key] / o[key] for s, o in zip(store, other, strict=True)]
            print(f"RESULT store ÷ store of {args.against} ({key}): {_spread(ratios)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child = {"store": child_store, "bare": child_bare, "floor": child_floor}[sys.argv[2]]
        print(json.dumps(child(*sys.argv[3:])))
    else:
        main()
