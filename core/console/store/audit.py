"""The audit log: who did what, when; failed logins, counted for the login rate limit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select

from core.console.store.schema import audit

LOGIN_FAILED = "login_failed"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    tenant_id: int | None
    action: str
    detail: dict[str, Any]


def record(
    conn: Connection, now: datetime, actor: str, action: str, tenant_id: int | None = None, **detail: Any
) -> None:
    """Append one entry (``detail`` holds plain JSON values, never a secret or a contact's data)."""
    conn.execute(audit.insert().values(at=now, actor=actor[:100], tenant_id=tenant_id, action=action, detail=detail))


def list_audit(conn: Connection, tenant_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first; only the tenant's entries when ``tenant_id`` is given."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if tenant_id is not None:
        query = query.where(audit.c.tenant_id == tenant_id)
    return [
        AuditEntry(id=r.id, at=r.at, actor=r.actor, tenant_id=r.tenant_id, action=r.action, detail=dict(r.detail))
        for r in conn.execute(query)
    ]


def failed_logins(conn: Connection, name: str, address: str, since: datetime) -> tuple[int, int]:
    """Failed logins since ``since``: for this user name, and from this address (any name)."""
    base = select(func.count()).select_from(audit).where(audit.c.action == LOGIN_FAILED, audit.c.at >= since)
    by_name = conn.execute(base.where(audit.c.actor == name[:100])).scalar_one()
    by_address = conn.execute(base.where(audit.c.detail["address"].as_string() == address)).scalar_one()
    return int(by_name), int(by_address)


def login_window(now: datetime, minutes: int) -> datetime:
    return now - timedelta(minutes=minutes)
