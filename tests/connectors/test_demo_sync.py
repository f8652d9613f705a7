"""The demo's sync section: a real HTTP sync from the fake shop on loopback into ``demo-woo``."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from core.store.schema import orders
from core.store.tenants import get_tenant
from relance.demo.run import SECTIONS
from relance.demo.sync import sync_section
from relance.settings import Settings
from relance.wiring import Runtime
from tests.conftest import NOW, make_tenant


def test_demo_section_syncs_a_fake_shop_over_http_into_its_own_tenant(sqlite_engine, tmp_path):
    assert "relance.demo.sync.sync_section" in SECTIONS
    main = make_tenant(sqlite_engine, "demo")
    settings = Settings(
        database_url=str(sqlite_engine.url),
        redis_url=None,
        data_dir=tmp_path,
        secret_key="x" * 20,
        base_url="http://127.0.0.1:8000",
    )
    runtime = Runtime(settings=settings, engine=sqlite_engine, clock=lambda: NOW)
    lines: list[str] = []
    sync_section(runtime, main, lines.append)
    text = "\n".join(lines)
    assert "tenant 'demo-woo' from a fake WooCommerce shop at http://127.0.0.1:" in text
    assert "orders     fetched 50, created 50, updated 0, unchanged 0, skipped 0" in text
    assert "customers  fetched 20, created 20" in text and "products   fetched 20, created 20" in text
    with sqlite_engine.connect() as conn:
        woo = get_tenant(conn, "demo-woo")
        assert conn.execute(select(func.count()).where(orders.c.tenant_id == woo.id)).scalar_one() == 50
        assert conn.execute(select(func.count()).where(orders.c.tenant_id == main.id)).scalar_one() == 0

    again: list[str] = []
    sync_section(runtime, main, again.append)
    # a second sync re-reads only the orders of the cursor's last second, and changes nothing
    assert re.search(r"orders     fetched (\d+), created 0, updated 0, unchanged \1, skipped 0", "\n".join(again))
