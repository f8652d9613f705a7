"""Received deliveries in the database: store one raw before answering, read, list and settle them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from core.store.deliveries import deliveries
from inbound.errors import UnknownDeliveryError

PENDING = "pending"
PROCESSED = "processed"
IGNORED = "ignored"
FAILED = "failed"
STATES = (PENDING, PROCESSED, IGNORED, FAILED)


@dataclass(frozen=True)
class Delivery:
    """One stored delivery: what was received, and what processing it did."""

    id: int
    tenant_id: int
    source: str
    topic: str
    headers: Mapping[str, str]
    body: bytes
    state: str
    attempts: int
    received_at: datetime
    error: str | None = None
    result: Mapping[str, Any] | None = None
    processed_at: datetime | None = None


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        tenant_id=row.tenant_id,
        source=row.source,
        topic=row.topic,
        headers=dict(row.headers or {}),
        body=bytes(row.body),
        state=row.state,
        attempts=row.attempts,
        received_at=row.received_at,
        error=row.error,
        result=row.result,
        processed_at=row.processed_at,
    )


#: One statement for every delivery (parameters bound at execution), so the intake skips rebuilding it.
_STORE = insert(deliveries).returning(deliveries.c.id)
#: The same INSERT as psycopg runs it, prepared on the server once per connection: the web intake's hot
#: path skips SQLAlchemy's statement machinery (bind processors, result metadata), a third of its cost.
_PG_STORE = (
    "INSERT INTO webhook_deliveries (tenant_id, source, topic, headers, body, state, attempts, received_at) "
    "VALUES (%s, %s, %s, %s::jsonb, %s, 'pending', 0, %s) RETURNING id"
)


def store_delivery(
    conn: Connection,
    tenant_id: int,
    source: str,
    topic: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> int:
    """Insert a pending delivery and return its id (committed on return when ``conn`` is autocommit)."""
    if conn.dialect.driver == "psycopg":
        if now.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return _store_with_psycopg(conn, (tenant_id, source, topic, json.dumps(dict(headers)), body, now))
    values = {
        "tenant_id": tenant_id,
        "source": source,
        "topic": topic,
        "headers": dict(headers),
        "body": body,
        "state": PENDING,
        "attempts": 0,
        "received_at": now,
    }
    return conn.execute(_STORE, values).scalar_one()


def _store_with_psycopg(conn: Connection, parameters: tuple[Any, ...]) -> int:
    """``_PG_STORE`` run by psycopg on ``conn``'s own connection; its errors raised as SQLAlchemy raises them.

    A connection found dead is invalidated (the pool replaces it) and the
    DBAPIError says so (``connection_invalidated``), as SQLAlchemy does for
    its own statements: the intake retries once, or answers 503.
    """
    driver = conn.connection.driver_connection
    try:
        return driver.execute(_PG_STORE, parameters, prepare=True).fetchone()[0]
    except psycopg.Error as exc:
        dead = conn.dialect.is_disconnect(exc, driver, None)
        if dead:
            conn.invalidate(exc)
        raise DBAPIError.instance(
            _PG_STORE, parameters, exc, psycopg.Error, connection_invalidated=dead, dialect=conn.dialect
        ) from exc


def get_delivery(conn: Connection, delivery_id: int, tenant_id: int | None = None) -> Delivery:
    """Return a delivery (of ``tenant_id`` when given); raise UnknownDeliveryError."""
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    if tenant_id is not None:
        query = query.where(deliveries.c.tenant_id == tenant_id)
    row = conn.execute(query).first()
    if row is None:
        raise UnknownDeliveryError(
            f"no delivery with id {delivery_id}; list them with 'relance deliveries --tenant NAME'"
        )
    return _delivery(row)


def list_deliveries(
    conn: Connection, tenant_id: int, state: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[Delivery]:
    """The tenant's newest deliveries first, optionally only those in ``state``."""
    query = select(deliveries).where(deliveries.c.tenant_id == tenant_id)
    if state is not None:
        query = query.where(deliveries.c.state == state)
    if before_id is not None:
        query = query.where(deliveries.c.id < before_id)
    return [_delivery(row) for row in conn.execute(query.order_by(deliveries.c.id.desc()).limit(limit))]


def start_attempt(conn: Connection, delivery_id: int) -> None:
    """Count one more processing attempt."""
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(attempts=deliveries.c.attempts + 1))


def settle_delivery(
    conn: Connection, delivery_id: int, state: str, now: datetime, result: Mapping[str, Any] | None = None
) -> None:
    """Record that processing ended in ``state`` (processed or ignored) with its ``result``."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(state=state, result=dict(result or {}), error=None, processed_at=now)
    )


def fail_delivery(conn: Connection, delivery_id: int, error: str, now: datetime) -> None:
    """Record that processing failed with ``error`` (kept for ``relance deliveries --failed``)."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(state=FAILED, error=error[:2000], processed_at=now)
    )


def note_error(conn: Connection, delivery_id: int, error: str) -> None:
    """Record the error of an attempt that will be retried (the delivery stays pending)."""
    conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(error=error[:2000]))


def pending_ids(
    conn: Connection, tenant_id: int, received_before: datetime, after_id: int = 0, limit: int = 1000
) -> list[int]:
    """Ids (ascending, above ``after_id``) of the tenant's pending deliveries received before ``received_before``."""
    return list(
        conn.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.tenant_id == tenant_id,
                deliveries.c.state == PENDING,
                deliveries.c.received_at < received_before,
                deliveries.c.id > after_id,
            )
            .order_by(deliveries.c.id)
            .limit(limit)
        ).scalars()
    )


def count_by_state(conn: Connection, tenant_id: int) -> dict[tuple[str, str], int]:
    """Number of the tenant's deliveries by (source, state)."""
    rows = conn.execute(
        select(deliveries.c.source, deliveries.c.state, func.count())
        .where(deliveries.c.tenant_id == tenant_id)
        .group_by(deliveries.c.source, deliveries.c.state)
    )
    return {(row[0], row[1]): row[2] for row in rows}
