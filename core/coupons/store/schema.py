"""The coupons table: per-contact codes asked of the shop, and what became of each request."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from core.store.schema import _tenant_fk, metadata
from core.store.types import BigId, Money, UTCDateTime

#: One row per message that wants a code of its own (``dedupe_key`` is the message's). Written
#: ``pending`` by the flows' engine in the run's transaction; a job (``jobs.coupons``) creates the
#: code through the shop's API and marks it ``created`` (or ``failed``/``skipped``: the message then
#: carries the step's fixed code).
coupons = Table(
    "coupons",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(60), nullable=False),
    Column("run_id", BigId),
    Column("dedupe_key", String(200), nullable=False),
    Column("percent", Money),
    Column("amount", Money),
    Column("currency", String(3)),
    Column("expires_at", UTCDateTime, nullable=False),
    # pending | created | failed | skipped
    Column("status", String(20), nullable=False),
    Column("code", String(100)),
    # the shop's id of the coupon / cart rule / sales rule
    Column("shop_ref", String(200)),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "dedupe_key", name="uq_coupons_tenant_key"),
    Index("ix_coupons_status_next", "status", "next_at"),
)
