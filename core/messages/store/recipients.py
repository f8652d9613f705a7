"""Who a message goes to: a contact's addresses, consents and language, read in one query."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from core.store.schema import contacts


@dataclass(frozen=True)
class Identity:
    contact_id: int
    email: str | None
    phone: str | None
    email_consent: bool | None
    sms_consent: bool | None
    locale: str | None


def get_identity(conn: Connection, tenant_id: int, contact_id: int) -> Identity | None:
    row = conn.execute(
        select(
            contacts.c.id,
            contacts.c.email,
            contacts.c.phone,
            contacts.c.email_consent,
            contacts.c.sms_consent,
            contacts.c.locale,
        ).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).first()
    if row is None:
        return None
    return Identity(row.id, row.email, row.phone, row.email_consent, row.sms_consent, row.locale)
