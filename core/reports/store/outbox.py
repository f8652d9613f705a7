"""Counts of a tenant's outbox by flow, channel and status, for ``/metrics``."""

from __future__ import annotations

from sqlalchemy import Connection, String, func, literal, select

from core.store.schema import messages


def message_counts(conn: Connection, tenant_id: int) -> dict[tuple[str, str, str], int]:
    """(flow, channel, status) -> number of the tenant's messages; a campaign's count under ``campaign:NAME``."""
    flow = func.coalesce(literal("campaign:", String) + messages.c.campaign, messages.c.flow)  # NULL || x is NULL
    rows = conn.execute(
        select(flow, messages.c.channel, messages.c.status, func.count())
        .where(messages.c.tenant_id == tenant_id)
        .group_by(flow, messages.c.channel, messages.c.status)
    )
    return {(f, channel, status): int(count) for f, channel, status, count in rows}
