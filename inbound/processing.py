"""Process a stored delivery: turn it into events and ingest them through the pipeline.

Used by the RQ job (``jobs.inbound.run_delivery``) and by ``relance
deliveries --replay``. Processing is idempotent: events carry message ids
derived from the delivery's content, so a job retry, a redelivery or a replay
changes nothing that is already stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from connectors.woocommerce.mapping import MappingError
from core.errors import EventError
from core.model import Event
from core.pipeline import ingest_batch
from core.store.tenants import Tenant, get_tenant_by_id
from inbound import events_api, metrics, tracker, woocommerce
from inbound.deliveries import (
    FAILED,
    IGNORED,
    PENDING,
    PROCESSED,
    Delivery,
    fail_delivery,
    get_delivery,
    note_error,
    settle_delivery,
    start_attempt,
)
from inbound.errors import BadPayloadError, DeliveryError, RetryableDeliveryError

log = logging.getLogger(__name__)

#: Errors that retrying cannot fix: the delivery is marked failed and not retried.
PERMANENT_ERRORS = (MappingError, EventError, DeliveryError, BadPayloadError)


@dataclass(frozen=True)
class Outcome:
    """How processing a delivery ended: ``state`` and what it did (or the error)."""

    delivery_id: int
    state: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _events(engine: Engine, tenant: Tenant, delivery: Delivery) -> tuple[list[Event], list[str]]:
    if delivery.source == woocommerce.SOURCE:
        return woocommerce.events_for_delivery(engine, tenant, delivery), []
    if delivery.source == events_api.SOURCE:
        return events_api.events_of(delivery.body)
    if delivery.source == tracker.SOURCE:
        return tracker.events_from_batch(delivery.body, delivery.id, delivery.received_at)
    raise DeliveryError(f"unknown delivery source {delivery.source!r}")


def process_delivery(
    engine: Engine,
    delivery_id: int,
    clock: Callable[[], datetime],
    redis: Redis | None = None,
    replay: bool = False,
) -> Outcome:
    """Process one stored delivery and record the outcome on it.

    A delivery already processed or ignored is left alone unless ``replay``.
    A payload that cannot be processed (malformed resource, invalid event) is
    marked failed and returned as such. Any other error (database, bug) is
    noted on the delivery, which stays pending, and re-raised so that RQ
    retries the job; the sweeper takes over if the retries run out.
    """
    with engine.begin() as conn:
        delivery = get_delivery(conn, delivery_id)
        if delivery.state in (PROCESSED, IGNORED) and not replay:
            return Outcome(delivery.id, delivery.state, dict(delivery.result or {}))
        tenant = get_tenant_by_id(conn, delivery.tenant_id)
        start_attempt(conn, delivery.id)
    try:
        found, rejected = _events(engine, tenant, delivery)
        report = ingest_batch(engine, tenant, found, clock) if found else None
    except PERMANENT_ERRORS as exc:
        return _fail(engine, tenant, delivery, str(exc), clock(), redis)
    except Exception as exc:
        summary = describe_error(exc)
        log.error("tenant %s: delivery %d failed, it will be retried: %s", tenant.name, delivery.id, summary)
        log.debug("delivery %d traceback", delivery.id, exc_info=True)
        try:
            with engine.begin() as conn:
                note_error(conn, delivery.id, summary)
        except Exception:  # noqa: BLE001 - the database may be what failed; the original error matters
            log.warning("tenant %s: delivery %d: could not record the error", tenant.name, delivery.id)
        # Re-raised without the original message: a database error quotes the row's values (emails).
        raise RetryableDeliveryError(f"delivery {delivery.id}: {summary}") from None
    result: dict[str, Any] = {"events": len(found)}
    if report is not None:
        result.update(stored=report.stored, duplicates=report.duplicates, stale=report.stale)
    if rejected:
        result["rejected"] = rejected[:20]
    state = PROCESSED if found else IGNORED
    now = clock()
    with engine.begin() as conn:
        settle_delivery(conn, delivery.id, state, now, result)
    metrics.record_processing(redis, tenant.name, delivery.source, state, (now - delivery.received_at).total_seconds())
    log.info("tenant %s: delivery %d %s (%s)", tenant.name, delivery.id, state, _summary(result))
    return Outcome(delivery.id, state, result)


def describe_error(exc: BaseException) -> str:
    """A one-line description of an error without the data it may quote.

    Database errors name the failed constraint on their first line and quote
    the row's values (emails, phones) in the lines after, and SQLAlchemy adds
    the statement's parameters: only the first line of the driver's message
    is kept.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else ""
        return f"{type(exc.orig).__name__}: {first}"[:500]
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:500]


def _fail(
    engine: Engine, tenant: Tenant, delivery: Delivery, error: str, now: datetime, redis: Redis | None
) -> Outcome:
    with engine.begin() as conn:
        fail_delivery(conn, delivery.id, error, now)
    metrics.record_processing(redis, tenant.name, delivery.source, FAILED, (now - delivery.received_at).total_seconds())
    # The error names record ids and fields, never personal data (mapping and Event API rules).
    log.warning("tenant %s: delivery %d failed: %s", tenant.name, delivery.id, error)
    return Outcome(delivery.id, FAILED, {}, error)


def _summary(result: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in result.items() if not isinstance(value, list))


__all__ = ["PENDING", "Outcome", "describe_error", "process_delivery"]
