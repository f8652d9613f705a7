"""Tables of the segments area: memberships, per-segment state, per-contact metrics, tenant models.

Memberships and metrics are derived data: a contact merge drops the merged
contact's rows (``on_merge: delete``) and the pipeline reaction recomputes the
surviving contact.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, PrimaryKeyConstraint, SmallInteger, String, Table

from core.store.schema import _parents_tenant, _tenant_fk, metadata
from core.store.types import BigId, Json, Money, UTCDateTime


def _contact_fk() -> Column:
    return Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False)


#: Who is in which segment now, and since when.
segment_members = Table(
    "segment_members",
    metadata,
    _parents_tenant(),
    Column("segment", String(100), nullable=False),
    _contact_fk(),
    Column("entered_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "segment", "contact_id"),
    Index("ix_segment_members_contact", "tenant_id", "contact_id"),
    info={"on_merge": "delete"},
)

#: One row per segment a tenant has: the definition its members were computed with
#: (a hash) and when (the built-ins' ``refreshed_at`` is a mark in January 1970 while a
#: backfill owes every contact a recomputation: ``refresh.owe_full_refresh``). A segment is kept
#: current incrementally only once a full refresh has filled it with its current definition.
segment_states = Table(
    "segment_states",
    metadata,
    _tenant_fk(),
    Column("segment", String(100), nullable=False),
    Column("definition", String(64), nullable=False),
    Column("refreshed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "segment"),
)

#: Per-contact figures: purchase summary, RFM scores, purchase-cycle predictions, the
#: forecast of the next 365 days (``predicted_orders``, ``predicted_value`` in the shop's
#: currency, see core.predictions_forecast) and the lead score. ``score_log2`` is log2 of
#: the score expressed at the fixed epoch (see core.scoring): it does not change as time
#: passes, only as events arrive.
contact_metrics = Table(
    "contact_metrics",
    metadata,
    _parents_tenant(),
    _contact_fk(),
    Column("orders_count", Integer, nullable=False),
    Column("total_spent", Money, nullable=False),
    Column("first_order_at", UTCDateTime),
    Column("last_order_at", UTCDateTime),
    Column("rfm_r", SmallInteger),
    Column("rfm_f", SmallInteger),
    Column("rfm_m", SmallInteger),
    Column("order_interval_days", Float),
    Column("expected_next_order_at", UTCDateTime),
    Column("p_active", Float),
    Column("predicted_orders", Float),
    Column("predicted_value", Money),
    Column("score_log2", Float),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "contact_id"),
    Index("ix_contact_metrics_contact", "contact_id"),
    info={"on_merge": "delete"},
)

#: Per-tenant models fitted by the full refresh: RFM quintile breakpoints, the
#: purchase model's parameters, the scoring settings the scores were computed with.
segment_models = Table(
    "segment_models",
    metadata,
    _tenant_fk(),
    Column("params", Json, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id"),
)
