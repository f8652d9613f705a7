"""The sync lease: at most one sync per tenant at a time, across processes and machines.

A row of ``sync_locks`` per tenant names the owner of the running sync and
when its lease expires. The lease is renewed in the transaction of every
stored page, so a sync that lost it (paused longer than the lease while
another took over) fails that transaction and stores nothing more. A crashed
sync's lease simply expires.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select, update

from connectors.errors import SyncLockedError
from core.store.db import upsert
from core.store.sync_state import sync_locks

LEASE = timedelta(minutes=15)


def new_owner() -> str:
    """An owner id naming this process (host:pid:random), for the lease row and the logs."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ensure_row(conn: Connection, tenant_id: int) -> None:
    upsert(conn, sync_locks, {"tenant_id": tenant_id}, keys=["tenant_id"])


def claim_lease(
    engine: Engine, tenant_id: int, tenant_name: str, owner: str, now: datetime, ttl: timedelta = LEASE
) -> None:
    """Take the tenant's sync lease or raise SyncLockedError saying who holds it until when."""
    with engine.begin() as conn:
        _ensure_row(conn, tenant_id)
        claimed = conn.execute(
            update(sync_locks)
            .where(
                sync_locks.c.tenant_id == tenant_id,
                or_(sync_locks.c.owner.is_(None), sync_locks.c.expires_at < now),
            )
            .values(owner=owner, expires_at=now + ttl, started_at=now)
        ).rowcount
        if claimed:
            return
        row = conn.execute(select(sync_locks).where(sync_locks.c.tenant_id == tenant_id)).one()
    since = row.started_at.strftime("%Y-%m-%d %H:%M UTC") if row.started_at else "a moment ago"
    until = row.expires_at.strftime("%H:%M UTC") if row.expires_at else "soon"
    raise SyncLockedError(
        f"tenant {tenant_name} is already being synced (started {since}); wait for it to finish, "
        f"or if it crashed, retry after its lease expires at {until}"
    )


def renew_lease(
    conn: Connection, tenant_id: int, tenant_name: str, owner: str, now: datetime, ttl: timedelta = LEASE
) -> None:
    """Extend the lease in the caller's transaction; SyncLockedError if another sync took it over."""
    renewed = conn.execute(
        update(sync_locks)
        .where(sync_locks.c.tenant_id == tenant_id, sync_locks.c.owner == owner)
        .values(expires_at=now + ttl)
    ).rowcount
    if not renewed:
        raise SyncLockedError(
            f"tenant {tenant_name}: this sync lost its lease to another sync (it stalled longer than "
            f"{int(ttl.total_seconds() // 60)} minutes); the other sync carries on from the saved cursors"
        )


def release_lease(
    engine: Engine, tenant_id: int, owner: str, now: datetime, outcome: str, error: str | None = None
) -> None:
    """Give the lease back and record how the sync ended (a lease taken over by another is left alone)."""
    with engine.begin() as conn:
        conn.execute(
            update(sync_locks)
            .where(sync_locks.c.tenant_id == tenant_id, sync_locks.c.owner == owner)
            .values(owner=None, expires_at=None, finished_at=now, outcome=outcome, error=error)
        )


def record_outcome(engine: Engine, tenant_id: int, now: datetime, outcome: str, error: str | None = None) -> None:
    """Record a sync that could not start (e.g. no credentials), for ``relance sync --status`` and the logs."""
    with engine.begin() as conn:
        _ensure_row(conn, tenant_id)
        conn.execute(
            update(sync_locks)
            .where(sync_locks.c.tenant_id == tenant_id)
            .values(finished_at=now, outcome=outcome, error=error)
        )


def claim_schedule(conn: Connection, tenant_id: int, due_before: datetime, now: datetime) -> bool:
    """Mark a tenant's scheduled sync as enqueued if its last one (enqueued or started) is older than
    ``due_before``; True when this caller won it (several schedulers may run at once)."""
    _ensure_row(conn, tenant_id)
    last = conn.execute(
        select(sync_locks.c.enqueued_at, sync_locks.c.started_at, sync_locks.c.owner, sync_locks.c.expires_at).where(
            sync_locks.c.tenant_id == tenant_id
        )
    ).one()
    if last.owner is not None and last.expires_at is not None and last.expires_at >= now:
        return False  # running now
    newest = max((t for t in (last.enqueued_at, last.started_at) if t is not None), default=None)
    if newest is not None and newest > due_before:
        return False
    condition = [sync_locks.c.tenant_id == tenant_id]
    condition.append(
        sync_locks.c.enqueued_at.is_(None) if last.enqueued_at is None else sync_locks.c.enqueued_at == last.enqueued_at
    )
    return bool(conn.execute(update(sync_locks).where(*condition).values(enqueued_at=now)).rowcount)
