"""Tables used as durable work queues (coupon requests, webhook calls): claim the due rows.

Such a table has ``id``, ``status``, ``attempts``, ``next_at`` and ``updated_at``.
A claim counts an attempt and pushes ``next_at`` past the claim, so a row
whose worker died mid-call is due again when the claim runs out; on
PostgreSQL rows another worker holds are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, or_, select, update


def claim_due_ids(
    conn: Connection, table: Table, pending: str, now: datetime, limit: int, claim: timedelta
) -> list[int]:
    """Claim up to ``limit`` rows of ``table`` in status ``pending`` that are due (every tenant's); their ids."""
    query = (
        select(table.c.id)
        .where(table.c.status == pending, or_(table.c.next_at.is_(None), table.c.next_at <= now))
        .order_by(table.c.next_at, table.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(conn.execute(query).scalars())
    if ids:
        conn.execute(
            update(table)
            .where(table.c.id.in_(ids))
            .values(attempts=table.c.attempts + 1, next_at=now + claim, updated_at=now)
        )
    return ids
