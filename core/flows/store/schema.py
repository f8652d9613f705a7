"""Tables of the flows: runs (durable, with their next due time), learned repurchase intervals, webhook calls."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.store.schema import _tenant_fk, metadata
from core.store.types import BigId, Json, UTCDateTime

#: One row per run of a flow for a contact. ``trigger_key`` names the trigger object
#: ("cart:12", "order:40", "birthday:7:2026", ...): the unique key makes it impossible
#: for a contact to be in two runs of one flow for the same object. A contact merge
#: moves runs (they are the person's history); keys embed what keeps them distinct.
flow_runs = Table(
    "flow_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("flow", String(60), nullable=False),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("trigger_key", String(200), nullable=False),
    # waiting | done | exited | cancelled
    Column("state", String(20), nullable=False),
    # index of the step the run is at
    Column("position", Integer, nullable=False),
    # when the run must be looked at next (NULL once ended)
    Column("due_at", UTCDateTime),
    # when the current step was meant to happen (a step held back keeps it, for its deadline)
    Column("step_due_at", UTCDateTime),
    # when the trigger happened (cart update, payment, greeting time, event)
    Column("trigger_at", UTCDateTime, nullable=False),
    Column("context", Json, nullable=False),
    # a sweep's claim: until then no other sweep enqueues the run again
    Column("claimed_until", UTCDateTime),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("end_reason", String(60)),
    UniqueConstraint("tenant_id", "flow", "trigger_key", name="uq_flow_runs_tenant_flow_key"),
    Index("ix_flow_runs_state_due", "state", "due_at"),
    Index("ix_flow_runs_contact", "tenant_id", "contact_id", "flow", "state"),
)

#: Repurchase intervals learned from the tenant's orders (median days between two
#: purchases of a product by the same customer), refreshed daily.
flow_intervals = Table(
    "flow_intervals",
    metadata,
    _tenant_fk(),
    Column("product_id", String(200), nullable=False),
    Column("days", Float, nullable=False),
    Column("pairs", Integer, nullable=False),
    Column("computed_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "product_id"),
)

#: The webhook steps' outbox: one row per run and step (``dedupe_key``), written in the run's transaction
#: and delivered by a job (``jobs.hooks``), retried with growing delays until ``MAX_ATTEMPTS``.
flow_webhooks = Table(
    "flow_webhooks",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(60), nullable=False),
    Column("run_id", BigId),
    Column("dedupe_key", String(200), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Json, nullable=False),
    # pending | delivered | failed
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_at", UTCDateTime),
    Column("last_error", String(500)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    UniqueConstraint("tenant_id", "dedupe_key", name="uq_flow_webhooks_tenant_key"),
    Index("ix_flow_webhooks_status_next", "status", "next_at"),
)
