"""The demo's webhooks section posts signed deliveries to the app and shows them processed by a worker."""

from __future__ import annotations

from sqlalchemy import select

from core.store.deliveries import deliveries
from core.store.schema import orders, products
from core.store.tenants import get_tenant
from relance.demo.run import DEMO_TENANT, SECTIONS
from relance.demo.webhooks import ORDER_ID, TENANT, webhooks_section
from tests.conftest import make_tenant


def test_the_section_is_part_of_the_demo():
    assert "relance.demo.webhooks.webhooks_section" in SECTIONS


def test_the_demo_section_posts_and_processes_signed_deliveries(engine, runtime):
    demo = make_tenant(engine, "demo", webhook_secret=DEMO_TENANT["webhook_secret"], url=DEMO_TENANT["url"])
    lines: list[str] = []
    webhooks_section(runtime, demo, lines.append)
    text = "\n".join(lines)
    assert "ping 200, 4 signed deliveries [200], a forged one 401" in text
    assert "duplicate, nothing changed" in text
    with engine.connect() as conn:
        hooks = get_tenant(conn, TENANT)
        states = [row.state for row in conn.execute(select(deliveries).where(deliveries.c.tenant_id == hooks.id))]
        order = conn.execute(select(orders).where(orders.c.tenant_id == hooks.id)).one()
        product = conn.execute(select(products).where(products.c.tenant_id == hooks.id)).one()
        assert conn.execute(select(orders).where(orders.c.tenant_id == demo.id)).all() == []  # demo untouched
    assert states == ["processed"] * 4
    assert (order.external_id, order.status, str(order.total)) == (str(ORDER_ID), "completed", "38.5000")
    assert product.categories == ["Thé & accessoires"]
    assert "camille" not in text.lower()
