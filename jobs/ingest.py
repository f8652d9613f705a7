"""Jobs that ingest events into the store."""

from __future__ import annotations

import logging
from typing import Any

from core.errors import EventError
from core.events import parse_event
from core.pipeline import ingest_batch
from core.store.tenants import get_tenant_by_id
from jobs import context

log = logging.getLogger(__name__)


def run_ingest_events(tenant_id: int, raw_events: list[dict[str, Any]], source: str = "api") -> dict[str, Any]:
    """Ingest a batch of Event API v1 objects for a tenant; return counts.

    Events that do not validate are counted and logged (message id and reason
    only), never retried: retrying cannot fix them.
    """
    runtime = context.current()
    with runtime.engine.connect() as conn:
        tenant = get_tenant_by_id(conn, tenant_id)
    valid = []
    invalid = 0
    for raw in raw_events:
        try:
            valid.append(parse_event(raw, default_source=source))
        except EventError as exc:
            invalid += 1
            message_id = raw.get("message_id") if isinstance(raw, dict) else None
            log.warning("tenant %s: event %s rejected: %s", tenant.name, message_id, exc)
    try:
        report = ingest_batch(runtime.engine, tenant, valid, runtime.clock)
    except Exception:
        log.exception("tenant %s: ingesting a batch of %d events failed", tenant.name, len(valid))
        raise
    return {
        "stored": report.stored,
        "duplicates": report.duplicates,
        "stale": report.stale,
        "invalid": invalid,
        "by_name": report.by_name,
    }
