"""A contact's choices, recorded through the pipeline as proof of consent.

Unsubscribes (one-click or from the preferences page), double opt-in
confirmations and SMS keyword replies (STOP, START) become Event API events
with ``source="relance"``, ingested like any other: the store records each
choice in ``consents`` with its time and source, and ``detail`` says how it
was made ("one-click unsubscribe (RFC 8058) from message 42"). Opens and
clicks become ``email_opened`` / ``email_clicked`` events (``sms_clicked``
for links in SMS).

"Synced back as an opt-out": every opt-out Relance records is listed by
``opt_outs_since`` for the connectors to push to the shop. The connectors are
read-only today, so nothing is pushed yet; the shop's own newsletter flag is
left as it is, and Relance never sends marketing to an opted-out contact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.messages.store.consents import note_detail, opt_outs
from core.messages.store.outbox import message_context
from core.messages.store.recipients import Identity, get_identity
from core.model import Channel, ContactInfo, Event, EventType
from core.pipeline import ingest
from core.store.tenants import Tenant

SOURCE = "relance"
#: SMS replies that opt out (Twilio's standard keywords and French ones) and opt back in.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET", "ARRÊT", "DESABONNER"})
START_WORDS = frozenset({"START", "UNSTOP"})


def _ingest(
    conn: Connection,
    tenant: Tenant,
    name: str | None,
    message_id: str,
    who: ContactInfo,
    now: datetime,
    properties: Mapping[str, Any],
    detail: str | None = None,
) -> bool:
    event = Event(
        type=EventType.TRACK if name else EventType.IDENTIFY,
        event=name,
        message_id=message_id,
        timestamp=now,
        contact=who,
        properties=dict(properties),
        source=SOURCE,
    )
    result = ingest(conn, tenant, event, now)
    if result.outcome != "stored":
        return False
    if detail and who.consent:
        note_detail(conn, tenant.id, message_id, detail)
    return True


def _who(identity: Identity, consent: Mapping[Channel, bool] | None = None) -> ContactInfo:
    if identity.email:
        return ContactInfo(email=identity.email, consent=dict(consent or {}))
    return ContactInfo(phone=identity.phone, consent=dict(consent or {}))


def unsubscribe(
    conn: Connection,
    tenant: Tenant,
    identity: Identity,
    channels: Sequence[Channel],
    now: datetime,
    how: str,
    message_id: int | None = None,
) -> bool:
    """Opt the contact out of ``channels`` now; ``how`` is kept as the proof's detail. False if a duplicate."""
    if not (identity.email or identity.phone) or not channels:
        return False
    names = "+".join(sorted(c.value for c in channels))
    event_id = f"relance-unsubscribe-{identity.contact_id}-{names}-{int(now.timestamp())}"
    detail = how + (f" from message {message_id}" if message_id else "")
    name = "newsletter_unsubscribed" if Channel.EMAIL in channels else None
    return _ingest(
        conn,
        tenant,
        name,
        event_id,
        _who(identity, {c: False for c in channels}),
        now,
        {"list": "marketing", "channels": sorted(c.value for c in channels), "message_id": message_id},
        detail,
    )


def confirm_subscription(conn: Connection, tenant: Tenant, identity: Identity, message_id: int, now: datetime) -> bool:
    """Grant email consent after a double opt-in click; a second click changes nothing."""
    if not identity.email:
        return False
    context = message_context(conn, tenant.id, message_id)
    list_name = context.get("list") if context is not None else None
    return _ingest(
        conn,
        tenant,
        "newsletter_subscribed",
        f"relance-confirm-{message_id}",
        ContactInfo(email=identity.email, consent={Channel.EMAIL: True}),
        now,
        {"list": list_name, "confirmed": True, "message_id": message_id},
        f"double opt-in confirmed from message {message_id}",
    )


def sms_keyword(body: str) -> bool | None:
    """False for an opt-out reply (STOP...), True for an opt-in (START), None for anything else."""
    word = " ".join(body.split()).upper().strip(" .!")
    if word in STOP_WORDS:
        return False
    if word in START_WORDS:
        return True
    return None


def sms_reply(conn: Connection, tenant: Tenant, phone: str, body: str, provider_id: str, now: datetime) -> bool | None:
    """Apply an inbound SMS: STOP opts the sender out of SMS at once, START opts back in.

    Returns the new SMS consent, or None when the reply is not a keyword.
    """
    choice = sms_keyword(body)
    if choice is None:
        return None
    _ingest(
        conn,
        tenant,
        None,
        f"relance-sms-{provider_id}",
        ContactInfo(phone=phone, consent={Channel.SMS: choice}),
        now,
        {"keyword": " ".join(body.split()).upper()[:20], "provider_id": provider_id},
        f"SMS reply {' '.join(body.split()).upper()[:20]}",
    )
    return choice


def record_engagement(
    conn: Connection,
    tenant: Tenant,
    message: Any,
    kind: str,
    now: datetime,
    url: str | None = None,
) -> bool:
    """Store an ``email_opened`` / ``email_clicked`` / ``sms_clicked`` event for an outbox message.

    The first open of a message and the first click of each link are kept
    (later ones are duplicates by their event id).
    """
    identity = get_identity(conn, tenant.id, message.contact_id)
    if identity is None or not (identity.email or identity.phone):
        return False
    suffix = hashlib.sha256(url.encode()).hexdigest()[:16] if url else "0"
    properties: dict[str, Any] = {"message_id": message.id, "flow": message.flow, "step": message.step}
    if url:
        properties["url"] = url
    return _ingest(conn, tenant, kind, f"relance-{kind}-{message.id}-{suffix}", _who(identity), now, properties)


def opt_outs_since(conn: Connection, tenant_id: int, after_id: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """Opt-outs recorded by Relance after consent row ``after_id``, oldest first, for connectors to push.

    Each item: ``id`` (keep the last one as the cursor), ``contact_id``, ``email``, ``phone``,
    ``channel``, ``at``, ``detail``.
    """
    rows = opt_outs(conn, tenant_id, SOURCE, after_id, limit)
    return [
        {
            "id": row.id,
            "contact_id": row.contact_id,
            "email": row.email,
            "phone": row.phone,
            "channel": row.channel,
            "at": row.at,
            "detail": row.detail,
        }
        for row in rows
    ]
