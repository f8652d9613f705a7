"""Read the store out in the documented export formats (README "Exported data").

Each ``iter_*`` function streams plain dicts, JSON-ready (decimal strings, ISO
8601 UTC times), for one tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, and_, case, func, select

from core.model import REVENUE_STATUSES
from core.normalize import isoformat, money_str
from core.store.contacts import ANONYMOUS, EMAIL, PHONE
from core.store.schema import cart_items, carts, contact_identities, contacts, order_items, orders, products

if TYPE_CHECKING:
    from datetime import datetime

CONTACT_FIELDS = (
    "email first_name last_name phone birthday country city locale timezone consent external_ids "
    "orders_count total_spent first_order_at last_order_at created_at "
    "segments score rfm order_interval_days expected_next_order_at p_active predicted_orders predicted_value"
).split()
ORDER_FIELDS = "source external_id number contact_email status currency total created_at updated_at items".split()
CART_FIELDS = "cart_id contact_email currency total items updated_at recovery_url converted".split()
PRODUCT_FIELDS = "product_id sku name brand categories price in_stock url".split()
BATCH = 1000


def _item(row: Any) -> dict[str, Any]:
    return {
        "product_id": row.product_id,
        "variant_id": row.variant_id,
        "sku": row.sku,
        "name": row.name,
        "quantity": row.quantity,
        "unit_price": money_str(row.unit_price),
        "brand": row.brand,
        "categories": list(row.categories or ()),
    }


def _items_by_parent(conn: Connection, table: Any, parent_key: str, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    parent = table.c[parent_key]
    for row in conn.execute(select(table).where(parent.in_(ids)).order_by(parent, table.c.position)):
        found[getattr(row, parent_key)].append(_item(row))
    return found


def _batched(rows: Any) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def iter_contacts(
    conn: Connection, tenant_id: int, currency: str | None = None, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Yield every identified contact (anonymous visitors are left out).

    ``segments``, ``score``, ``rfm`` and the predictions come from
    ``core.segments.store.metrics.export_fields``: the score is given at ``now``
    (else as of the contact's last metrics update).

    ``orders_count`` and ``total_spent`` count paid and completed orders;
    ``total_spent`` sums the orders in ``currency`` (the tenant's) when given.
    """
    from core.segments.store.metrics import export_fields  # the segments area builds on the store

    revenue = orders.c.status.in_(REVENUE_STATUSES)
    spent_filter = and_(revenue, orders.c.currency == currency) if currency else revenue
    stats = (
        select(
            orders.c.contact_id,
            func.sum(case((revenue, 1), else_=0)).label("orders_count"),
            func.sum(case((spent_filter, orders.c.total), else_=0)).label("total_spent"),
            func.min(case((revenue, orders.c.created_at))).label("first_order_at"),
            func.max(case((revenue, orders.c.created_at))).label("last_order_at"),
        )
        .where(orders.c.tenant_id == tenant_id)
        .group_by(orders.c.contact_id)
        .subquery()
    )
    query = (
        select(contacts, stats.c.orders_count, stats.c.total_spent, stats.c.first_order_at, stats.c.last_order_at)
        .outerjoin(stats, stats.c.contact_id == contacts.c.id)
        .where(contacts.c.tenant_id == tenant_id, (contacts.c.email.is_not(None)) | (contacts.c.phone.is_not(None)))
        .order_by(contacts.c.id)
    )
    for batch in _batched(conn.execute(query.execution_options(yield_per=BATCH))):
        ids = [row.id for row in batch]
        externals: dict[int, dict[str, str]] = {i: {} for i in ids}
        for ident in conn.execute(
            select(contact_identities).where(
                contact_identities.c.tenant_id == tenant_id,
                contact_identities.c.contact_id.in_(ids),
                contact_identities.c.kind.not_in([EMAIL, PHONE, ANONYMOUS]),
            )
        ):
            externals[ident.contact_id][ident.kind.removeprefix("ext:")] = ident.value
        figures = export_fields(conn, tenant_id, ids, now)
        for row in batch:
            yield {
                "email": row.email,
                "first_name": row.first_name,
                "last_name": row.last_name,
                "phone": row.phone,
                "birthday": row.birthday.isoformat() if row.birthday else None,
                "country": row.country,
                "city": row.city,
                "locale": row.locale,
                "timezone": row.timezone,
                "consent": {"email": bool(row.email_consent), "sms": bool(row.sms_consent)},
                "external_ids": externals[row.id],
                "orders_count": int(row.orders_count or 0),
                "total_spent": money_str(_decimal(row.total_spent)),
                "first_order_at": isoformat(row.first_order_at) if row.first_order_at else None,
                "last_order_at": isoformat(row.last_order_at) if row.last_order_at else None,
                "created_at": isoformat(row.created_at),
                "attributes": dict(row.attributes or {}),
                **figures[row.id],
            }


def _decimal(value: Any) -> Any:
    from decimal import Decimal

    if value is None:
        return Decimal("0.00")
    if isinstance(value, float):
        return Decimal(repr(value)).quantize(Decimal("0.01"))
    return Decimal(str(value)).quantize(Decimal("0.0001"))


def _as_datetime(value: Any) -> Any:
    """SQLite returns MIN()/MAX() of timestamps as text; PostgreSQL as datetimes."""
    from datetime import UTC, datetime

    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def iter_orders(conn: Connection, tenant_id: int) -> Iterator[dict[str, Any]]:
    """Yield every order with its items, oldest first."""
    query = (
        select(orders, contacts.c.email.label("contact_email"))
        .outerjoin(contacts, contacts.c.id == orders.c.contact_id)
        .where(orders.c.tenant_id == tenant_id)
        .order_by(orders.c.created_at, orders.c.id)
    )
    for batch in _batched(conn.execute(query.execution_options(yield_per=BATCH))):
        items = _items_by_parent(conn, order_items, "order_id", [row.id for row in batch])
        for row in batch:
            yield {
                "source": row.source,
                "external_id": row.external_id,
                "number": row.number,
                "contact_email": row.contact_email,
                "status": row.status,
                "currency": row.currency,
                "total": money_str(row.total),
                "created_at": isoformat(row.created_at),
                "updated_at": isoformat(row.updated_at),
                "items": items[row.id],
            }


def iter_carts(conn: Connection, tenant_id: int) -> Iterator[dict[str, Any]]:
    """Yield every cart with its items, most recently updated last."""
    query = (
        select(carts, contacts.c.email.label("contact_email"))
        .outerjoin(contacts, contacts.c.id == carts.c.contact_id)
        .where(carts.c.tenant_id == tenant_id)
        .order_by(carts.c.updated_at, carts.c.id)
    )
    for batch in _batched(conn.execute(query.execution_options(yield_per=BATCH))):
        items = _items_by_parent(conn, cart_items, "cart_id", [row.id for row in batch])
        for row in batch:
            yield {
                "cart_id": row.external_id,
                "contact_email": row.contact_email,
                "currency": row.currency,
                "total": money_str(row.total),
                "items": items[row.id],
                "updated_at": isoformat(row.updated_at),
                "recovery_url": row.recovery_url,
                "converted": row.converted_order_id is not None,
                "source": row.source,
            }


def iter_products(conn: Connection, tenant_id: int) -> Iterator[dict[str, Any]]:
    """Yield every product of the catalogue."""
    query = select(products).where(products.c.tenant_id == tenant_id).order_by(products.c.id)
    for row in conn.execute(query.execution_options(yield_per=BATCH)):
        yield {
            "product_id": row.external_id,
            "sku": row.sku,
            "name": row.name,
            "brand": row.brand,
            "categories": list(row.categories or ()),
            "price": money_str(row.price) if row.price is not None else None,
            "in_stock": row.in_stock,
            "url": row.url,
            "currency": row.currency,
            "image_url": row.image_url,
            "source": row.source,
            "updated_at": isoformat(row.updated_at),
        }
