"""The outbox as the sending side sees it: claim due messages, read one, record its outcome and links.

The flows write the outbox (``core.flows.store.outbox``); these functions move
a message from ``scheduled`` through ``sending`` to its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from core.flows.store.sql import among
from core.messages.store.schema import message_links
from core.store.db import upsert
from core.store.schema import messages


def claim_next(conn: Connection, message_ids: Sequence[int], now: datetime) -> Any:
    """Move ONE due, scheduled row among ``message_ids`` (the lowest id) to ``sending``; return it, or None.

    One statement: the row is picked and claimed together, so two workers never
    take the same row. On PostgreSQL a row another worker is claiming is skipped
    (``FOR UPDATE SKIP LOCKED``) rather than waited for; SQLite runs one write at
    a time anyway. The whole row comes back, so sending it needs no other read.
    """
    if not message_ids:
        return None
    pick = (
        select(messages.c.id)
        .where(among(conn, messages.c.id, message_ids), messages.c.status == "scheduled", messages.c.due_at <= now)
        .order_by(messages.c.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return conn.execute(
        update(messages)
        .where(messages.c.id == pick.scalar_subquery(), messages.c.status == "scheduled")
        .values(status="sending", attempts=messages.c.attempts + 1, updated_at=now)
        .returning(*messages.c)
    ).first()


def due_message_ids(conn: Connection, now: datetime, limit: int = 1000) -> list[int]:
    """Scheduled rows whose time has come (for the sweep), oldest first."""
    return list(
        conn.execute(
            select(messages.c.id)
            .where(messages.c.status == "scheduled", messages.c.due_at <= now)
            .order_by(messages.c.due_at, messages.c.id)
            .limit(limit)
        ).scalars()
    )


def fail_stuck(conn: Connection, now: datetime, stuck_after: timedelta, error: str) -> list[int]:
    """Fail rows left in ``sending`` longer than ``stuck_after`` (reason ``interrupted``); return their ids."""
    return sorted(
        conn.execute(
            update(messages)
            .where(messages.c.status == "sending", messages.c.updated_at < now - stuck_after)
            .values(status="failed", reason="interrupted", error=error, updated_at=now)
            .returning(messages.c.id)
        ).scalars()
    )


def update_message(conn: Connection, message_id: int, now: datetime, **values: Any) -> None:
    """Record what happened to a message (status, reason, error, provider id...)."""
    conn.execute(update(messages).where(messages.c.id == message_id).values(updated_at=now, **values))


def save_links(conn: Connection, tenant_id: int, message_id: int, urls: Sequence[str]) -> None:
    """Replace the message's tracked links (their position is what a click link names)."""
    conn.execute(delete(message_links).where(message_links.c.message_id == message_id))
    if urls:
        conn.execute(
            insert(message_links),
            [
                {"tenant_id": tenant_id, "message_id": message_id, "position": i, "url": url}
                for i, url in enumerate(urls)
            ],
        )


def message_context(conn: Connection, tenant_id: int, message_id: int) -> Mapping[str, Any] | None:
    """The context of a message (None when it does not exist)."""
    row = conn.execute(
        select(messages.c.context).where(messages.c.tenant_id == tenant_id, messages.c.id == message_id)
    ).first()
    return None if row is None else dict(row.context or {})


def schedule_once(conn: Connection, values: Mapping[str, Any]) -> None:
    """Write a message unless one with its ``dedupe_key`` exists (transactional messages written outside flows)."""
    upsert(conn, messages, dict(values), keys=["tenant_id", "dedupe_key"])
