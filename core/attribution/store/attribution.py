"""Loads and writes of the attribution: orders to credit, the contacts' clicks and opens, the credits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, String, and_, any_, bindparam, delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from core.attribution.rules import CLICK, OPEN, Touch
from core.attribution.store.schema import order_attributions
from core.store.ingest import by_tenant
from core.store.schema import events, messages, orders

#: The source of the clicks and opens the link pages record (``core.messages.preferences``): their
#: ``message_id`` property is an outbox id. Events of the same names from other tools are not ours.
RECORDED_BY = "relance"
#: Event name -> kind of touch.
TOUCH_EVENTS = {"email_clicked": CLICK, "sms_clicked": CLICK, "email_opened": OPEN}


@dataclass(frozen=True)
class OrderRow:
    id: int
    contact_id: int | None
    created_at: datetime
    status: str
    currency: str
    total: Decimal


def _among(conn: Connection, column: Any, values: Sequence[Any]) -> Any:
    if conn.dialect.name == "postgresql":
        kind = String() if values and isinstance(values[0], str) else BigInteger()
        return column == any_(bindparam(None, list(values), type_=ARRAY(kind)))
    return column.in_(list(values))


_ORDER_COLUMNS = (orders.c.id, orders.c.contact_id, orders.c.created_at, orders.c.status, orders.c.currency,
                  orders.c.total)  # fmt: skip


def get_orders(conn: Connection, tenant_id: int, order_ids: Sequence[int]) -> list[OrderRow]:
    """The orders ``order_ids`` of the tenant."""
    if not order_ids:
        return []
    tenant = by_tenant(conn.dialect.name, orders.c.tenant_id, tenant_id)  # the ids' index, not the tenant's
    rows = conn.execute(select(*_ORDER_COLUMNS).where(tenant, _among(conn, orders.c.id, order_ids)))
    return [OrderRow(*row) for row in rows]


def orders_page(conn: Connection, tenant_id: int, after_id: int, limit: int) -> list[OrderRow]:
    """The tenant's orders with an id above ``after_id``, by id, at most ``limit``."""
    rows = conn.execute(
        select(*_ORDER_COLUMNS)
        .where(orders.c.tenant_id == tenant_id, orders.c.id > after_id)
        .order_by(orders.c.id)
        .limit(limit)
    )
    return [OrderRow(*row) for row in rows]


def has_messages(conn: Connection, tenant_id: int) -> bool:
    """Whether the tenant has any message (one probe of ``uq_messages_tenant_dedupe``): without one, no order
    has a touch or a credit (a credit's message cascades), so crediting changes nothing."""
    return bool(conn.execute(_HAS_MESSAGES, {"b_tenant": tenant_id}).scalar())


#: Built once: ``has_messages`` runs once per page of a sync.
_HAS_MESSAGES = select(exists().where(messages.c.tenant_id == bindparam("b_tenant")))


def get_touches(
    conn: Connection, tenant_id: int, contact_ids: Sequence[int], since: datetime, until: datetime
) -> dict[int, list[Touch]]:
    """Clicks and opens of the contacts' messages between ``since`` and ``until`` (inclusive), by contact."""
    if not contact_ids:
        return {}
    message_id = events.c.properties["message_id"].as_integer()
    rows = conn.execute(
        select(
            events.c.contact_id,
            events.c.name,
            events.c.occurred_at,
            messages.c.id,
            messages.c.flow,
            messages.c.step,
            messages.c.campaign,
            messages.c.variant,
        )
        .select_from(
            events.join(messages, and_(messages.c.id == message_id, messages.c.tenant_id == events.c.tenant_id))
        )
        .where(
            events.c.tenant_id == tenant_id,
            events.c.source == RECORDED_BY,
            _among(conn, events.c.contact_id, list(contact_ids)),
            events.c.name.in_(list(TOUCH_EVENTS)),
            events.c.occurred_at >= since,
            events.c.occurred_at <= until,
        )
    )
    found: dict[int, list[Touch]] = {}
    for contact_id, name, at, mid, flow, step, campaign, variant in rows:
        found.setdefault(contact_id, []).append(Touch(TOUCH_EVENTS[name], at, mid, flow, step, campaign, variant))
    return found


def save_credits(conn: Connection, tenant_id: int, credits: list[dict[str, Any]], uncredited: Sequence[int]) -> None:
    """Write the credits (one per order, replacing any) and remove those of the ``uncredited`` orders."""
    if uncredited:
        conn.execute(
            delete(order_attributions).where(
                order_attributions.c.tenant_id == tenant_id,
                _among(conn, order_attributions.c.order_id, list(uncredited)),
            )
        )
    if not credits:
        return
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(order_attributions)
    keep = ("message_id", "flow", "step", "campaign", "variant", "kind", "touched_at", "order_at", "currency",
            "amount", "computed_at")  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "order_id"], set_={key: stmt.excluded[key] for key in keep}
    )
    for start in range(0, len(credits), 1000):
        conn.execute(stmt, [{"tenant_id": tenant_id, **credit} for credit in credits[start : start + 1000]])


def get_credit(conn: Connection, tenant_id: int, order_id: int) -> dict[str, Any] | None:
    """The stored credit of an order, or None."""
    row = conn.execute(
        select(order_attributions).where(
            order_attributions.c.tenant_id == tenant_id, order_attributions.c.order_id == order_id
        )
    ).first()
    return None if row is None else dict(row._mapping)
