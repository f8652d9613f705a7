"""Applying the attribution rule to orders: as they change (a pipeline reaction), or to a tenant's history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from core.attribution.rules import credited, credited_amount
from core.attribution.settings import Windows, windows
from core.attribution.store.attribution import (
    OrderRow,
    get_orders,
    get_touches,
    has_messages,
    orders_page,
    save_credits,
)
from core.model import Event
from core.store.ingest import Ingested, page_memo
from core.store.tenants import Tenant

#: The order effects that can change an order's credit (new order, new status or total).
ORDER_EFFECTS = frozenset({"order_created", "order_changed", "order_status"})
PAGE = 2000


def credit_orders(conn: Connection, tenant_id: int, rows: Sequence[OrderRow], rules: Windows, now: datetime) -> int:
    """Credit each order to its message (or to none) and store it; return how many orders are credited."""
    with_contact = [row for row in rows if row.contact_id is not None]
    touches: dict[int, list[Any]] = {}
    if with_contact:
        longest = max(rules.click, rules.open)
        since = min(row.created_at for row in with_contact) - longest
        until = max(row.created_at for row in with_contact)
        touches = get_touches(conn, tenant_id, sorted({row.contact_id for row in with_contact}), since, until)
    credits: list[dict[str, Any]] = []
    uncredited: list[int] = []
    for row in rows:
        touch = credited(row.created_at, touches.get(row.contact_id, ()), rules) if row.contact_id else None
        if touch is None:
            uncredited.append(row.id)
            continue
        credits.append(
            {
                "order_id": row.id,
                "message_id": touch.message_id,
                "flow": touch.flow,
                "step": touch.step,
                "campaign": touch.campaign,
                "variant": touch.variant,
                "kind": touch.kind,
                "touched_at": touch.at,
                "order_at": row.created_at,
                "currency": row.currency,
                "amount": credited_amount(row.status, row.total),
                "computed_at": now,
            }
        )
    save_credits(conn, tenant_id, credits, uncredited)
    return len(credits)


def react(conn: Connection, tenant: Tenant, event: Event, result: Ingested, now: datetime) -> list[Event]:
    """The pipeline's reaction: (re)credit an order that was created or changed. Leads to no event.

    A page of one (``react_page``)."""
    return react_page(conn, tenant, [(event, result)], now)


def react_page(
    conn: Connection, tenant: Tenant, stored: Sequence[tuple[Event, Ingested]], now: datetime
) -> list[Event]:
    """The pipeline's reaction to a page of stored events: (re)credit once each order the page created or
    changed, in three statements for the whole page (its orders, their contacts' touches, the credits).
    Leads to no event.

    The same credits as ``react`` after each event: the pipeline runs reactions once the whole page is
    stored, so every event of an order sees the order's last state and the same touches, and the last
    credit written is that of the last state.

    A tenant that has no message yet (a first sync, before any flow or campaign sent) has no touch and no
    credit: the page's orders are then not read at all (one ``EXISTS`` per page, ``page_memo``), which writes
    exactly what crediting them would (nothing)."""
    order_ids = list(
        dict.fromkeys(
            result.order_id for _, result in stored if result.order_id is not None and result.effects & ORDER_EFFECTS
        )
    )
    if order_ids and page_memo(conn, "attribution.has_messages", lambda: has_messages(conn, tenant.id)):
        rows = get_orders(conn, tenant.id, order_ids)
        credit_orders(conn, tenant.id, rows, windows(tenant.config.attribution), now)
    return []


def recompute(engine: Engine, tenant: Tenant, now: datetime) -> tuple[int, int]:
    """Credit every order of the tenant again (history, or after a change of windows), a page per transaction.

    Returns (orders looked at, orders credited). Safe to run again or to stop: each page is rewritten whole.
    """
    rules = windows(tenant.config.attribution)
    seen = total = after_id = 0
    while True:
        with engine.begin() as conn:
            rows = orders_page(conn, tenant.id, after_id, PAGE)
            if not rows:
                return seen, total
            total += credit_orders(conn, tenant.id, rows, rules, now)
        seen += len(rows)
        after_id = rows[-1].id
