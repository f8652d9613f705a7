"""What the links, pixels, survey page and SMS callbacks read and write about a sent message.

The HTTP endpoints under ``/m`` and ``/survey`` (``webhooks.links``,
``webhooks.survey``) hand their connection here; every query is scoped by
tenant.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from core.messages.store.schema import message_links, receipts
from core.store.schema import messages


def get_message(conn: Connection, tenant_id: int, message_id: int) -> Any:
    """The message row, or None when it is not this tenant's (or was deleted)."""
    return conn.execute(select(messages).where(messages.c.tenant_id == tenant_id, messages.c.id == message_id)).first()


def link_url(conn: Connection, tenant_id: int, message_id: int, position: int) -> str | None:
    """The destination of a message's short link number ``position`` (SMS links), or None."""
    return conn.execute(
        select(message_links.c.url).where(
            message_links.c.tenant_id == tenant_id,
            message_links.c.message_id == message_id,
            message_links.c.position == position,
        )
    ).scalar()


def sms_by_provider_id(conn: Connection, tenant_id: int, provider_id: str) -> Any:
    """The SMS the provider knows by ``provider_id`` (a Twilio MessageSid), or None."""
    return conn.execute(
        select(messages).where(
            messages.c.tenant_id == tenant_id, messages.c.provider_id == provider_id, messages.c.channel == "sms"
        )
    ).first()


def record_receipt(
    conn: Connection,
    tenant_id: int,
    message_id: int | None,
    provider: str,
    provider_id: str,
    status: str,
    error_code: str | None,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """Keep a provider's delivery receipt as it came (cut to the columns' sizes)."""
    conn.execute(
        receipts.insert().values(
            tenant_id=tenant_id,
            message_id=message_id,
            provider=provider,
            provider_id=provider_id[:200],
            status=status[:40],
            error_code=error_code[:20] if error_code else None,
            payload=payload,
            received_at=now,
        )
    )


def mark_undelivered(
    conn: Connection, tenant_id: int, message_id: int, status: str, reason: str, error: str, now: datetime
) -> None:
    """A message the provider reported it could not deliver: ``bounced`` or ``failed``, with the reason."""
    conn.execute(
        update(messages)
        .where(messages.c.tenant_id == tenant_id, messages.c.id == message_id)
        .values(status=status, reason=reason, error=error, updated_at=now)
    )
