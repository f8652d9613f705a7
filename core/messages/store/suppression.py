"""Suppressed addresses: where marketing messages no longer go (hard bounces, bad numbers)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from core.messages.store.schema import suppressions
from core.store.db import upsert


def suppress(
    conn: Connection,
    tenant_id: int,
    channel: str,
    address: str,
    reason: str,
    now: datetime,
    detail: str | None = None,
    message_id: int | None = None,
) -> None:
    """Suppress an address for marketing; the first reason recorded is kept."""
    upsert(
        conn,
        suppressions,
        {
            "tenant_id": tenant_id,
            "channel": channel,
            "address": address,
            "reason": reason,
            "detail": (detail or "")[:500] or None,
            "message_id": message_id,
            "created_at": now,
        },
        keys=["tenant_id", "channel", "address"],
    )


def suppression_of(conn: Connection, tenant_id: int, channel: str, address: str) -> str | None:
    """The reason an address is suppressed, or None."""
    return conn.execute(
        select(suppressions.c.reason).where(
            suppressions.c.tenant_id == tenant_id,
            suppressions.c.channel == channel,
            suppressions.c.address == address,
        )
    ).scalar()


def lift(conn: Connection, tenant_id: int, channel: str, address: str) -> bool:
    """Remove an address from the suppression list (after a human checked it); True if it was there."""
    result = conn.execute(
        delete(suppressions).where(
            suppressions.c.tenant_id == tenant_id,
            suppressions.c.channel == channel,
            suppressions.c.address == address,
        )
    )
    return bool(result.rowcount)
