"""Against a real PrestaShop 8.1.2 (demo data + seed.sh): a first sync equals the shop, a second
changes nothing, a change to the last-read record arrives with the next incremental sync."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.live.conftest import Stores
from tests.live.helpers import adds_up, summary

pytestmark = pytest.mark.live

#: PrestaShop 8.1's built-in order states (English names) -> Relance's statuses.
STATES = {
    "Awaiting check payment": "pending",
    "Payment accepted": "paid",
    "Processing in progress": "paid",
    "Shipped": "completed",
    "Delivered": "completed",
    "Canceled": "cancelled",
    "Refunded": "refunded",
    "Payment error": "failed",
    "On backorder (paid)": "paid",
    "Awaiting bank wire payment": "pending",
    "Remote payment accepted": "paid",
    "On backorder (not paid)": "pending",
    "Awaiting Cash On Delivery validation": "pending",
}


def shop_orders(stores: Stores) -> dict[str, dict[str, str]]:
    rows = stores.presta_sql(
        "SELECT o.id_order, o.total_paid_tax_incl, o.date_upd, s.name AS state FROM ps_orders o "
        "JOIN ps_order_state_lang s ON s.id_order_state = o.current_state AND s.id_lang = 1"
    )
    return {r["id_order"]: r for r in rows}


def test_a_first_sync_equals_the_shop(stores: Stores) -> None:
    done = stores.relance("sync", "--tenant", "presta")
    table = summary(done.stdout)
    assert set(table) >= {"customers", "products", "orders", "carts"}
    assert not any(r["stopped"] for r in table.values()), done.stderr
    assert table["customers"]["fetched"] > 0 and table["customers"]["skipped"] == 0  # issue 11 #1: genders
    assert adds_up(table), done.stdout

    shop = shop_orders(stores)
    exported = {o["external_id"]: o for o in stores.export("orders", "presta")}
    assert set(exported) == set(shop)
    for order_id, row in shop.items():
        assert Decimal(exported[order_id]["total"]) == Decimal(row["total_paid_tax_incl"]), order_id
        assert exported[order_id]["status"] == STATES[row["state"]], (order_id, row["state"])
        for item in exported[order_id]["items"]:
            assert Decimal(item["unit_price"]) == Decimal(item["unit_price"]).quantize(Decimal("0.01"))

    customers = stores.presta_sql(
        "SELECT c.email, c.newsletter, c.birthday, c.deleted, l.locale FROM ps_customer c "
        "JOIN ps_lang l ON l.id_lang = c.id_lang"
    )
    contacts = {c["email"]: c for c in stores.export("contacts", "presta")}
    for row in customers:
        contact = contacts[row["email"].lower()]
        if row["newsletter"] == "1" and row["deleted"] == "0":
            assert contact["consent"]["email"] is True, row["email"]
        if row["birthday"] not in ("", "0000-00-00", "NULL"):
            assert contact["birthday"] == row["birthday"], row["email"]
        assert contact["locale"] == row["locale"].replace("-", "_"), row["email"]


def test_a_second_sync_changes_nothing(stores: Stores) -> None:
    done = stores.relance("sync", "--tenant", "presta")
    table = summary(done.stdout)
    assert adds_up(table)
    assert all(r["created"] == 0 and r["updated"] == 0 and r["skipped"] == 0 for r in table.values()), done.stdout


def test_a_change_to_the_last_read_records_arrives_with_the_next_sync(stores: Stores) -> None:
    shop = shop_orders(stores)
    last = max(shop.values(), key=lambda r: (r["date_upd"], int(r["id_order"])))
    now = (datetime.now(ZoneInfo("Europe/Paris")) - timedelta(seconds=2)).strftime("%Y-%m-%d %H:%M:%S")
    stores.presta_sql(f"UPDATE ps_orders SET current_state = 6, date_upd = '{now}' WHERE id_order = {last['id_order']}")
    stores.presta_sql(
        f"UPDATE ps_customer SET newsletter = 1, newsletter_date_add = '{now}', date_upd = '{now}' "
        "WHERE email = 'Bruno.Lefevre@Example.FR'"
    )
    done = stores.relance("sync", "--tenant", "presta", "--resource", "orders", "--resource", "customers")
    table = summary(done.stdout)
    assert table["orders"]["updated"] == 1 and table["customers"]["updated"] >= 1, done.stdout
    assert adds_up(table)
    orders = {o["external_id"]: o for o in stores.export("orders", "presta")}
    assert orders[last["id_order"]]["status"] == "cancelled"
    contacts = {c["email"]: c for c in stores.export("contacts", "presta")}
    assert contacts["bruno.lefevre@example.fr"]["consent"]["email"] is True
