"""Tables of the campaigns: the campaigns, and one row per recipient (the unique key that sends each once)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, PrimaryKeyConstraint, String, Table, UniqueConstraint

from core.store.schema import _tenant_fk, metadata
from core.store.types import BigId, Json, UTCDateTime

#: A one-off send. ``spec`` is its validated definition (``core.campaigns.model``); ``start_at`` is the
#: first instant anyone can be due (for a local time: when it is first that time anywhere).
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("name", String(60), nullable=False),
    Column("spec", Json, nullable=False),
    # draft | scheduled | sending | done | cancelled
    Column("state", String(20), nullable=False),
    # file (the tenant file's campaigns section) | api (the CLI, the console)
    Column("source", String(10), nullable=False),
    Column("start_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    UniqueConstraint("tenant_id", "name", name="uq_campaigns_tenant_name"),
    Index("ix_campaigns_state_start", "state", "start_at"),
)

#: Who a campaign goes to, fixed when it starts. The primary key (campaign, contact) is what makes
#: every recipient get it once; a batch claims its rows and settles them in the transaction that
#: writes their messages, so a crash redoes the batch and never sends twice.
campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", BigId, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
    _tenant_fk(),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    # pending | done | cancelled
    Column("state", String(20), nullable=False),
    # when it is to be looked at (its time, or later when quiet hours or pressure moved it)
    Column("due_at", UTCDateTime, nullable=False),
    # its own time (the message expires ``expires_hours`` after it)
    Column("first_due_at", UTCDateTime, nullable=False),
    # scheduled | dropped (the message's status) and why
    Column("outcome", String(20)),
    Column("reason", String(60)),
    Column("message_id", BigId),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("campaign_id", "contact_id"),
    Index("ix_campaign_recipients_due", "campaign_id", "state", "due_at"),
)
