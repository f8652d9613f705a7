"""The table of raw deliveries: every webhook, Event API post and tracker batch, as received.

A delivery is written (headers that matter, exact body bytes) before the
sender gets its 2xx, then processed by an RQ job. ``state`` is ``pending``
until a job (or a replay) has processed it, then ``processed``, ``ignored``
(nothing to do: an unsupported topic, a deletion of something we never saw)
or ``failed`` (``error`` says why; ``relance deliveries --replay ID`` runs it
again). The sweeper finds ``pending`` rows whose job was lost.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from core.store.schema import metadata
from core.store.types import BigId, Json, UTCDateTime

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    # woocommerce | events | tracker
    Column("source", String(20), nullable=False),
    # the WooCommerce topic (order.updated), "events" or "collect"
    Column("topic", String(100), nullable=False),
    Column("headers", Json, nullable=False),
    Column("body", LargeBinary, nullable=False),
    # pending | processed | ignored | failed
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("result", Json),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    Index("ix_webhook_deliveries_state_received", "state", "received_at"),
    Index("ix_webhook_deliveries_tenant_state", "tenant_id", "state", "id"),
)
