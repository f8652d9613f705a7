"""Sync jobs: one tenant's sync, and the periodic sweep that enqueues the syncs that are due.

``run_scheduled_syncs`` runs every minute (``jobs.periodic``). A tenant is due
when ``sync.interval_minutes`` (tenant file, default 5) have passed since its
last sync was enqueued or started; claiming it is a conditional update of its
``sync_locks`` row, so several schedulers never enqueue the same sync twice.
A tenant without credentials is skipped with one warning per interval.

``run_sync_tenant`` does not re-raise what a retry cannot fix or what the next
scheduled sync retries anyway: refused keys (logged with what to check), a
shop that stayed unreachable through the HTTP retries, another sync running.
Anything else is logged and re-raised for RQ to retry.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from connectors.base import Resource
from connectors.errors import ConnectorAuthError, ConnectorError, SyncLockedError
from connectors.lease import claim_schedule, record_outcome
from connectors.registry import connector_for
from connectors.sync import run_sync
from core import normalize
from core.store.tenants import get_tenant_by_id, list_tenants
from core.tenants import CREDENTIAL_KEYS, TenantConfig
from jobs import context, queues

log = logging.getLogger(__name__)


def missing_credentials(config: TenantConfig) -> list[str]:
    """The required credential keys a tenant's file does not have."""
    required = CREDENTIAL_KEYS.get(config.platform, {})
    return [key for key, needed in required.items() if needed and not config.credentials.get(key)]


def run_sync_tenant(
    tenant_id: int, full: bool = False, since: str | None = None, resources: list[str] | None = None
) -> dict[str, Any]:
    """Sync one tenant's shop; return the report as plain data (``outcome`` and per-resource counts)."""
    runtime = context.current()
    with runtime.engine.connect() as conn:
        tenant = get_tenant_by_id(conn, tenant_id)
    missing = missing_credentials(tenant.config)
    if missing:
        reason = f"no credentials.{missing[0]} in the tenant file"
        log.warning("tenant %s: not synced: %s", tenant.name, reason)
        record_outcome(runtime.engine, tenant.id, runtime.clock(), "no_credentials", reason)
        return {"tenant": tenant.name, "outcome": "no_credentials"}
    try:
        connector = connector_for(tenant.config)
        report = run_sync(
            runtime.engine,
            tenant,
            connector,
            resources=[Resource(r) for r in resources] if resources else None,
            full=full,
            since=normalize.timestamp(since) if since else None,
            clock=runtime.clock,
            producer=runtime.settings.sync_producer,
        )
    except SyncLockedError as exc:
        log.info("%s", exc)
        return {"tenant": tenant.name, "outcome": "locked"}
    except ConnectorAuthError as exc:
        log.error("%s", exc)
        return {"tenant": tenant.name, "outcome": "auth_failed", "error": str(exc)}
    except ConnectorError as exc:
        log.error("tenant %s: sync failed: %s", tenant.name, exc)
        return {"tenant": tenant.name, "outcome": "failed", "error": str(exc)}
    except Exception:
        log.exception("tenant %s: sync failed", tenant.name)
        raise
    result = report.as_dict()
    result["outcome"] = "ok" if report.ok else "failed"
    totals = report.totals()
    stopped = [f"{r.value} ({s.error})" for r, s in report.resources.items() if s.error]
    log.log(
        logging.WARNING if stopped else logging.INFO,
        "tenant %s: synced%s: %d fetched, %d created, %d updated, %d unchanged, %d skipped%s",
        tenant.name,
        " with errors" if stopped else "",
        totals.fetched,
        totals.created,
        totals.updated,
        totals.unchanged,
        totals.skipped,
        "; STOPPED: " + "; ".join(stopped) if stopped else "",
    )
    return result


def run_scheduled_syncs() -> dict[str, Any]:
    """Enqueue the sync of every tenant that is due; return the names enqueued and skipped."""
    runtime = context.current()
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn)
    enqueued: list[str] = []
    skipped: list[str] = []
    for tenant in tenants:
        interval = timedelta(minutes=tenant.config.sync.interval_minutes)
        with runtime.engine.begin() as conn:
            if not claim_schedule(conn, tenant.id, now - interval, now):
                continue
        missing = missing_credentials(tenant.config)
        if missing:
            reason = f"no credentials.{missing[0]} in the tenant file"
            log.warning("tenant %s: scheduled sync skipped: %s", tenant.name, reason)
            record_outcome(runtime.engine, tenant.id, now, "no_credentials", reason)
            skipped.append(tenant.name)
            continue
        queues.enqueue(runtime.redis, "jobs.sync.run_sync_tenant", tenant.id, queue_name=queues.BULK)
        enqueued.append(tenant.name)
    return {"enqueued": enqueued, "skipped": skipped}
