"""The attribution of orders to messages (``core.attribution``).

One row per attributed order: the message whose link the contact clicked last
(``kind`` "click") or, failing that, opened last (``kind`` "open") within the
tenant's windows, with what the report groups by copied from the message
(flow, step, campaign, variant) and the order's attributed amount: its total
while it is paid or completed, zero once refunded, cancelled or failed. An
order with no such message has no row.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from core.store.schema import _tenant_fk, metadata
from core.store.types import BigId, Money, UTCDateTime

order_attributions = Table(
    "order_attributions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("message_id", BigId, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(60), nullable=False),
    Column("step", Integer, nullable=False),
    Column("campaign", String(60)),
    Column("variant", String(40)),
    # click | open
    Column("kind", String(10), nullable=False),
    Column("touched_at", UTCDateTime, nullable=False),
    # when the order was placed (the report's period filters on it)
    Column("order_at", UTCDateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", Money, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "order_id", name="uq_order_attributions_tenant_order"),
    Index("ix_order_attributions_tenant_time", "tenant_id", "order_at"),
    Index("ix_order_attributions_message", "message_id"),
)
