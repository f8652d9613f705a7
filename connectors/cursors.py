"""Connector cursors: where each tenant's sync of each resource got to (``sync_cursors``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from connectors.base import Resource
from core.store.db import upsert
from core.store.schema import sync_cursors


def get_cursor(conn: Connection, tenant_id: int, resource: Resource) -> str | None:
    """The saved cursor of a tenant's resource, None when it was never synced."""
    return conn.execute(
        select(sync_cursors.c.cursor).where(
            sync_cursors.c.tenant_id == tenant_id, sync_cursors.c.resource == resource.value
        )
    ).scalar()


def save_cursor(conn: Connection, tenant_id: int, resource: Resource, cursor: str, now: datetime) -> None:
    """Save a cursor (in the caller's transaction, with the records it covers)."""
    upsert(
        conn,
        sync_cursors,
        {"tenant_id": tenant_id, "resource": resource.value, "cursor": cursor, "updated_at": now},
        keys=["tenant_id", "resource"],
        update=["cursor", "updated_at"],
    )


def get_cursors(conn: Connection, tenant_id: int) -> dict[str, tuple[str, datetime]]:
    """Every saved cursor of a tenant: resource -> (cursor, saved at)."""
    rows = conn.execute(
        select(sync_cursors.c.resource, sync_cursors.c.cursor, sync_cursors.c.updated_at).where(
            sync_cursors.c.tenant_id == tenant_id
        )
    )
    return {row.resource: (row.cursor, row.updated_at) for row in rows}


def delete_cursors(conn: Connection, tenant_id: int) -> int:
    """Forget a tenant's cursors (the next sync reads everything); return how many were deleted."""
    return conn.execute(delete(sync_cursors).where(sync_cursors.c.tenant_id == tenant_id)).rowcount
