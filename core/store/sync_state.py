"""Tables of the connectors: one row per tenant holding the sync lease and the schedule.

``sync_locks`` is a lease, not a database lock: ``owner`` and ``expires_at``
say who syncs the tenant now and until when (renewed with every stored page),
so the lease of a crashed sync expires by itself. The same row keeps when the
tenant was last enqueued, started and finished, for the scheduler and
``relance sync`` summaries. Cursors live in ``core.store.schema.sync_cursors``.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Integer, String, Table, Text

from core.store.schema import metadata
from core.store.types import UTCDateTime

sync_locks = Table(
    "sync_locks",
    metadata,
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(100)),
    Column("expires_at", UTCDateTime),
    Column("enqueued_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    # ok | failed | auth_failed | no_credentials
    Column("outcome", String(20)),
    Column("error", Text),
)
