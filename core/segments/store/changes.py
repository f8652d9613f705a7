"""Entering and leaving a segment are events: ``segment_entered`` / ``segment_exited``.

They go through the same pipeline as every other event (the segments
reaction returns them to ``core.pipeline``, a full refresh hands them to
``core.pipeline.apply``), so that flows can trigger on them, with the contact
named by one of its own identities. The segments reaction ignores them: a
segment event never recomputes segments, so there is no recursion.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from core.model import ContactInfo, Event, EventType
from core.store.contacts import ANONYMOUS, EMAIL, PHONE
from core.store.schema import contact_identities, contacts
from core.store.tenants import Tenant

log = logging.getLogger(__name__)

SEGMENT_ENTERED = "segment_entered"
SEGMENT_EXITED = "segment_exited"
SEGMENT_EVENTS = frozenset({SEGMENT_ENTERED, SEGMENT_EXITED})


@dataclass(frozen=True)
class Change:
    """A contact entering (or leaving) a segment."""

    segment: str
    contact_id: int
    entered: bool


def _identity(conn: Connection, tenant_id: int, contact_id: int) -> tuple[ContactInfo, str | None] | None:
    """How an event names this contact: its email, else its own phone, else an anonymous id."""
    email = conn.execute(
        select(contacts.c.email).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).scalar()
    if email:
        return ContactInfo(email=email), None
    owned = dict(
        conn.execute(
            select(contact_identities.c.kind, contact_identities.c.value).where(
                contact_identities.c.tenant_id == tenant_id,
                contact_identities.c.contact_id == contact_id,
                contact_identities.c.kind.in_([EMAIL, PHONE, ANONYMOUS]),
            )
        ).all()
    )
    if EMAIL in owned:
        return ContactInfo(email=owned[EMAIL]), None
    if PHONE in owned:
        return ContactInfo(phone=owned[PHONE]), None
    if ANONYMOUS in owned:
        return ContactInfo(), owned[ANONYMOUS]
    return None


def segment_event(change: Change, info: ContactInfo, anonymous_id: str | None, now: datetime) -> Event:
    """The Event API event that records a change of membership."""
    name = SEGMENT_ENTERED if change.entered else SEGMENT_EXITED
    return Event(
        type=EventType.TRACK,
        event=name,
        message_id=f"relance-{name}-{change.segment}-{change.contact_id}-{uuid.uuid4().hex[:12]}",
        timestamp=now,
        contact=info,
        anonymous_id=anonymous_id,
        properties={"segment": change.segment},
        source="relance",
    )


#: Contacts whose emails are read by one query (a refresh after a refit may record tens of thousands of changes).
EMAILS_AT_ONCE = 5_000


def _emails(conn: Connection, tenant_id: int, contact_ids: list[int]) -> dict[int, str]:
    """The email of each of the contacts that have one, ``EMAILS_AT_ONCE`` contacts a query."""
    found: dict[int, str] = {}
    unique = sorted(set(contact_ids))
    for start in range(0, len(unique), EMAILS_AT_ONCE):
        rows = conn.execute(
            select(contacts.c.id, contacts.c.email).where(
                contacts.c.tenant_id == tenant_id,
                contacts.c.id.in_(unique[start : start + EMAILS_AT_ONCE]),
                contacts.c.email.is_not(None),
            )
        )
        found.update((contact_id, email) for contact_id, email in rows if email)
    return found


def change_events(conn: Connection, tenant: Tenant, changes: list[Change], now: datetime) -> list[Event]:
    """The segment event of each change, naming the contact by one of its identities (the contacts' emails read
    at once; a contact without one by its other identities)."""
    found: list[Event] = []
    emails = _emails(conn, tenant.id, [change.contact_id for change in changes]) if len(changes) > 1 else {}
    for change in changes:
        email = emails.get(change.contact_id)
        named = (ContactInfo(email=email), None) if email else _identity(conn, tenant.id, change.contact_id)
        if named is None:
            log.warning("tenant %s: contact %s has no identity; segment event skipped", tenant.name, change.contact_id)
            continue
        info, anonymous_id = named
        found.append(segment_event(change, info, anonymous_id, now))
    return found
