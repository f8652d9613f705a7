"""Consent records as the messages area reads and annotates them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from core.store.schema import consents, contacts


def note_detail(conn: Connection, tenant_id: int, event_message_id: str, detail: str) -> None:
    """Say how a choice was made ("one-click unsubscribe from message 42") on the consent its event recorded."""
    conn.execute(
        update(consents)
        .where(consents.c.tenant_id == tenant_id, consents.c.message_id == event_message_id)
        .values(detail=detail[:500])
    )


def opt_outs(conn: Connection, tenant_id: int, source: str, after_id: int, limit: int) -> list[Any]:
    """Opt-outs recorded from ``source`` after consent row ``after_id``, oldest first, with the contact's addresses."""
    return list(
        conn.execute(
            select(consents, contacts.c.email, contacts.c.phone)
            .join(contacts, contacts.c.id == consents.c.contact_id)
            .where(
                consents.c.tenant_id == tenant_id,
                consents.c.source == source,
                consents.c.granted.is_(False),
                consents.c.id > after_id,
            )
            .order_by(consents.c.id)
            .limit(limit)
        ).all()
    )
