"""Where the receiving endpoints read a tenant and store a delivery: the two statements of the intake.

On PostgreSQL, each thread's own connection (``webhooks.pgintake``, outside
SQLAlchemy's pool); elsewhere (SQLite) an autocommit connection of the
runtime's engine, through the store functions. Either way the INSERT is
committed when it returns, and a connection found dead is replaced and the
work run once more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from flask import Flask, current_app
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from core.secrets import Keyring
from core.store.tenants import keyring_of, stored_settings
from inbound.deliveries import store_delivery
from webhooks.context import DATABASE_CONNECT_TIMEOUT, runtime
from webhooks.pgintake import IntakeConnections

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class IntakeDatabase(Protocol):
    """What the intake reads and writes, on one connection."""

    @property
    def keyring(self) -> Keyring | None:
        """The keyring of the tenants' secrets (None: stored in clear)."""
        ...

    def tenant_settings(self, name: str) -> tuple[int, Mapping[str, Any]] | None:
        """(id, stored settings: validated, secrets sealed) of the tenant called ``name``, or None."""
        ...

    def store_delivery(
        self, tenant_id: int, source: str, topic: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> int:
        """Insert a pending delivery and return its id, committed."""
        ...


class EngineIntake:
    """The intake's statements on an autocommit SQLAlchemy connection (the store functions)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.keyring = keyring_of(conn)

    def tenant_settings(self, name: str) -> tuple[int, Mapping[str, Any]] | None:
        return stored_settings(self.conn, name)

    def store_delivery(
        self, tenant_id: int, source: str, topic: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> int:
        return store_delivery(self.conn, tenant_id, source, topic, headers, body, now)


def intake_connections(app: Flask | None = None) -> IntakeConnections | None:
    """The per-thread connections of ``app``'s intake on PostgreSQL (built once per app); None on SQLite."""
    extensions = (app or current_app).extensions
    state = extensions.get("relance.intake")
    if state is None:
        engine = runtime(app).engine
        pg = engine.dialect.name == "postgresql"
        state = extensions.setdefault(
            "relance.intake", {"connections": IntakeConnections(engine, DATABASE_CONNECT_TIMEOUT) if pg else None}
        )
    return state["connections"]


def with_database(work: Callable[[IntakeDatabase], _T], app: Flask | None = None) -> _T:
    """Run ``work`` with the intake's database; once more on a new connection if the first was found dead.

    Raises DBAPIError (or DatabaseUnavailableError) when the database cannot
    be reached: the intake answers 503.
    """
    connections = intake_connections(app)
    if connections is not None:
        return connections.run(work)
    return with_connection(lambda conn: work(EngineIntake(conn)), app)


def with_connection(work: Callable[[Connection], _T], app: Flask | None = None) -> _T:
    """Run ``work`` on an autocommit connection of the runtime's engine; retry once if the connection was dead.

    A pooled connection may have been closed by the server (a restart, an
    idle timeout): that error invalidates the pool and the work is run once
    more on a new connection. If the INSERT had reached the database before
    the connection broke, the retry stores the delivery a second time;
    processing is idempotent, so it is processed once.
    """
    engine = runtime(app).engine
    for attempt in (1, 2):
        try:
            # Autocommit: the INSERT is durable when it returns, without BEGIN/COMMIT round trips.
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
            log.info("a pooled database connection was closed (%s); retrying once", type(exc.orig).__name__)
    raise AssertionError("unreachable")  # pragma: no cover
