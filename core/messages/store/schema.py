"""Tables of the messages area: suppressed addresses, SMS short links, provider receipts.

The outbox itself (``core.store.schema.messages``) is shared with the flows.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, Table, Text

from core.store.schema import _tenant_fk, metadata
from core.store.types import BigId, Json, UTCDateTime

#: Addresses no marketing message goes to any more: a hard bounce (5xx recipient
#: refused), an invalid or unreachable phone number, a spam complaint. Kept per
#: address, not per contact: a merge changes nothing, and the address stays
#: suppressed whoever holds it.
suppressions = Table(
    "message_suppressions",
    metadata,
    _tenant_fk(),
    Column("channel", String(10), nullable=False),
    Column("address", String(320), nullable=False),
    # bounced | invalid_number | unreachable | complaint
    Column("reason", String(40), nullable=False),
    Column("detail", String(500)),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "channel", "address"),
)

#: Destinations of the short links in SMS (``/m/s/<tenant>-<message>-<position>-<sig>``).
message_links = Table(
    "message_links",
    metadata,
    _tenant_fk(),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("url", Text, nullable=False),
    PrimaryKeyConstraint("message_id", "position"),
)

#: What providers report after sending: SMS delivery statuses, by provider message id.
receipts = Table(
    "message_receipts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE")),
    Column("provider", String(20), nullable=False),
    Column("provider_id", String(200), nullable=False),
    Column("status", String(40), nullable=False),
    Column("error_code", String(20)),
    Column("payload", Json, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Index("ix_message_receipts_message", "tenant_id", "message_id"),
    Index("ix_message_receipts_provider_id", "tenant_id", "provider", "provider_id"),
)
