"""The webhook steps' outbox (``flow_webhooks``): written by the engine, claimed and settled by the delivery."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.flows.store.schema import flow_webhooks
from core.store.work import claim_due_ids

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
#: A claimed row not settled by then (a worker died mid-post) is tried again.
CLAIM = timedelta(minutes=5)


def add_hook(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    flow: str,
    run_id: int | None,
    dedupe_key: str,
    url: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> None:
    """Record a webhook call to make (once per key: a step evaluated twice records one call)."""
    dml = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dml.insert(flow_webhooks)
        .values(
            tenant_id=tenant_id,
            contact_id=contact_id,
            flow=flow,
            run_id=run_id,
            dedupe_key=dedupe_key[:200],
            url=url,
            payload=dict(payload),
            status=PENDING,
            attempts=0,
            next_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    )


def claim_due(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Claim up to ``limit`` due calls (every tenant's): count the attempt and push ``next_at`` past the claim."""
    ids = claim_due_ids(conn, flow_webhooks, PENDING, now, limit, CLAIM)
    if not ids:
        return []
    return list(
        conn.execute(
            select(
                flow_webhooks.c.id,
                flow_webhooks.c.tenant_id,
                flow_webhooks.c.flow,
                flow_webhooks.c.url,
                flow_webhooks.c.payload,
                flow_webhooks.c.attempts,
            )
            .where(flow_webhooks.c.id.in_(ids))
            .order_by(flow_webhooks.c.id)
        ).all()
    )


def settle(
    conn: Connection, hook_id: int, status: str, next_at: datetime | None, error: str | None, now: datetime
) -> None:
    """Record what a try gave."""
    conn.execute(
        update(flow_webhooks)
        .where(flow_webhooks.c.id == hook_id)
        .values(
            status=status,
            next_at=next_at,
            last_error=(error or "")[:500] or None,
            delivered_at=now if status == DELIVERED else None,
            updated_at=now,
        )
    )


def hooks_of(conn: Connection, tenant_id: int) -> list[Any]:
    """Every webhook call of a tenant, oldest first."""
    return list(
        conn.execute(select(flow_webhooks).where(flow_webhooks.c.tenant_id == tenant_id).order_by(flow_webhooks.c.id))
    )
