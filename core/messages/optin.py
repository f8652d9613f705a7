"""Double opt-in: a newsletter signup from the storefront tracker asks for a confirmation first.

The store grants no consent for a tracker's ``newsletter_subscribed`` (anyone
can type anyone's address in a form). This reaction writes a transactional
``double_opt_in`` message to the outbox; the send sweep (``jobs.send``) sends it, and the
signed link in it grants email consent (``preferences.confirm_subscription``).

At most one confirmation per email address per ISO week (``dedupe_key``,
unique per tenant, named by a hash of the address): a form posted again and
again with someone's address sends them one email a week at most, whatever
contact the address resolves to. How many signups one client address or one
shop may post is limited at the edge (``webhooks.collect``,
``tracker.limits``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Connection

from core.messages.store.outbox import schedule_once
from core.messages.store.recipients import get_identity
from core.model import Channel, Event
from core.store.ingest import Ingested
from core.store.tenants import Tenant

FLOW = "double_opt_in"
SIGNUP_SOURCES = frozenset({"tracker"})


def dedupe_key(email: str, now: datetime) -> str:
    """The key that makes a confirmation to ``email`` unique in the ISO week of ``now``."""
    year, week, _ = now.isocalendar()
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"{FLOW}:{digest}:{year}-W{week:02d}"


def react(conn: Connection, tenant: Tenant, event: Event, ingested: Ingested, now: datetime) -> list[Event]:
    """Write a confirmation email for a tracker signup of a contact who has not opted in to email.

    Leads to no other event (the pipeline reaction contract: the follow-up events, here none).
    """
    if event.name != "newsletter_subscribed" or event.source not in SIGNUP_SOURCES or ingested.contact_id is None:
        return []
    email = event.contact.email if isinstance(event.contact.email, str) else None
    if not email or event.contact.consent.get(Channel.EMAIL) is False:
        return []
    identity = get_identity(conn, tenant.id, ingested.contact_id)
    if identity is None or identity.email_consent is True:
        return []
    schedule_once(
        conn,
        {
            "tenant_id": tenant.id,
            "contact_id": ingested.contact_id,
            "flow": FLOW,
            "run_id": None,
            "step": 1,
            "channel": Channel.EMAIL.value,
            "marketing": False,
            "template": f"{FLOW}/1",
            "context": {"list": event.properties.get("list"), "signup_event": event.message_id},
            "dedupe_key": dedupe_key(email, now),
            "status": "scheduled",
            "due_at": now,
            "to_address": email,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    return []
