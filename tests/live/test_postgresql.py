"""Both real shops synced into PostgreSQL give what they give in SQLite: the same contacts (with their
segments, RFM, order intervals and expected next orders), orders, products and carts. The rest of the live suite runs on the
embedded SQLite, which forgives what PostgreSQL refuses (a logarithm of a negative number ended a real
WooCommerce first sync there while the same sync passed on SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.live.conftest import Stores
from tests.live.helpers import adds_up, summary

pytestmark = pytest.mark.live

#: Fields written at the time of the run rather than read from the shop: the contact's creation, the lead
#: score (decayed to the second) and what the purchase model gives, fitted on ``now - first order`` (the
#: seeded orders are minutes old: the seconds between the two runs move the fit). The crash this test was
#: written for ended the sync (checked); the values are checked against Python's by tests/segments.
WRITTEN_AT_RUN = {"created_at", "score", "p_active", "predicted_orders", "predicted_value"}


def _socket_url(url: str, conn: sa.Connection) -> str:
    """``url`` reached through the server's Unix socket: the shops' namespace has a loopback of its own."""
    directory = conn.exec_driver_sql("SHOW unix_socket_directories").scalar().split(",")[0].strip()
    parsed = sa.make_url(url)
    return f"postgresql://{parsed.username}@/{parsed.database}?host={directory}"


def _sync_all(stores: Stores, data_dir: Path, database: str = "") -> dict[str, dict[str, list[dict[str, Any]]]]:
    data_dir.mkdir()
    where = {"data_dir": data_dir, "database": database}
    stores.relance("tenant", "apply", str(stores.rs_dir / "tenants.yaml"), **where)
    found = {}
    for tenant in ("woo", "presta"):
        done = stores.relance("sync", "--tenant", tenant, **where)
        table = summary(done.stdout)
        assert adds_up(table) and not any(r["stopped"] for r in table.values()), done.stdout + done.stderr
        found[tenant] = {
            what: stores.export(what, tenant, **where) for what in ("contacts", "orders", "products", "carts")
        }
    return found


def _keyed(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keyed = {}
    for row in rows:
        key = row.get("email") or row.get("external_id") or row.get("product_id") or row.get("cart_id") or repr(row)
        keyed[str(key)] = {name: value for name, value in row.items() if name not in WRITTEN_AT_RUN}
    return keyed


def test_postgresql_holds_what_sqlite_holds(stores: Stores, pg_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        database = _socket_url(pg_url, conn)
    engine.dispose()
    in_sqlite = _sync_all(stores, tmp_path / "sqlite")
    in_postgresql = _sync_all(stores, tmp_path / "postgresql", database)
    for tenant, exports in in_sqlite.items():
        assert exports["contacts"] and exports["orders"] and exports["products"], tenant
        for what, rows in exports.items():
            differences = _differences(_keyed(rows), _keyed(in_postgresql[tenant][what]))
            assert not differences, f"{tenant} {what}, SQLite != PostgreSQL:\n" + "\n".join(differences)


def _differences(sqlite: dict[str, dict[str, Any]], postgresql: dict[str, dict[str, Any]]) -> list[str]:
    """What differs, field by field: ``key.field: sqlite's value != postgresql's``."""
    found = [f"{key}: only in {'SQLite' if key in sqlite else 'PostgreSQL'}" for key in set(sqlite) ^ set(postgresql)]
    for key in sorted(set(sqlite) & set(postgresql)):
        for name in sorted(set(sqlite[key]) | set(postgresql[key])):
            if sqlite[key].get(name) != postgresql[key].get(name):
                found.append(f"{key}.{name}: {sqlite[key].get(name)!r} != {postgresql[key].get(name)!r}")
    return found
