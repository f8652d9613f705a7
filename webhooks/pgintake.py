"""The web intake's own PostgreSQL connection, one per thread: the tenant read and the delivery INSERT, run by libpq.

On PostgreSQL the receiving endpoints do not borrow a connection of
SQLAlchemy's pool per request: each thread keeps one psycopg connection
(autocommit, so the INSERT is committed when it returns) with the intake's
two statements prepared on the server when it opens, and runs them with
libpq's ``PQexecPrepared`` through psycopg's ``pgconn`` (parameters sent as
text, the body as binary). The pool checkout, SQLAlchemy's connection
object and psycopg's per-execute cursor and prepared-statement bookkeeping
were about a third of the intake's own CPU per request.

The statements are the intake's store functions, kept here (the web layer's
one SQL, as the lead's brief for issue 13 asked): they write the row
``inbound.deliveries.store_delivery`` writes and read what
``core.store.tenants.stored_settings`` reads, which tests check.

A connection found dead (the server restarted, an idle timeout) is dropped
and the work is run once more on a new one; a connection that cannot be
opened, or a second failure, is raised as SQLAlchemy's DBAPIError (the
intake answers 503). Errors never quote the parameters (bodies are personal
data).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import pq
from psycopg.errors import error_from_result
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from core.secrets import Keyring
from core.store.tenants import KEYRING_OPTION

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: The row ``inbound.deliveries.store_delivery`` stores (a pending delivery), its id returned.
STORE_DELIVERY = (
    b"INSERT INTO webhook_deliveries (tenant_id, source, topic, headers, body, state, attempts, received_at) "
    b"VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6) RETURNING id"
)
#: What ``core.store.tenants.stored_settings`` reads: the tenant's id and stored settings (secrets sealed).
TENANT_SETTINGS = b"SELECT id, config FROM tenants WHERE name = $1"
_STATEMENTS = {b"relance_intake_store": STORE_DELIVERY, b"relance_intake_tenant": TENANT_SETTINGS}
#: Text parameters, but the body (binary: bytes as they are, no escaping).
_STORE_FORMATS = (0, 0, 0, 0, 1, 0)
_OK = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
#: Connections a forked process inherited: closing them (or letting them be collected) would end the parent's.
_INHERITED: list[IntakeConnection] = []


class IntakeConnection:
    """One thread's connection: the two statements, each a round trip; raise DBAPIError on any failure."""

    def __init__(self, conn: psycopg.Connection[Any], engine: Engine) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.engine = engine
        #: The keyring of the tenants' secrets (the engine's, as ``core.store.tenants.keyring_of`` reads it).
        self.keyring: Keyring | None = engine.get_execution_options().get(KEYRING_OPTION)
        self.pid = os.getpid()
        for name, sql in _STATEMENTS.items():
            self._check(self.pgconn.prepare(name, sql), sql, ())

    @property
    def alive(self) -> bool:
        return self.pgconn.status == pq.ConnStatus.OK

    def tenant_settings(self, name: str) -> tuple[int, Mapping[str, Any]] | None:
        """(id, stored settings) of the tenant called ``name``, or None."""
        params = (name.encode(),)
        result = self._check(self.pgconn.exec_prepared(b"relance_intake_tenant", params), TENANT_SETTINGS, params)
        if not result.ntuples:
            return None
        config = result.get_value(0, 1)
        return int(result.get_value(0, 0) or b"0"), json.loads(config) if config else {}

    def store_delivery(
        self, tenant_id: int, source: str, topic: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> int:
        """Insert a pending delivery and return its id (committed when this returns)."""
        if now.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        params = (
            str(tenant_id).encode(),
            source.encode(),
            topic.encode(),
            json.dumps(dict(headers)).encode(),
            body,
            now.astimezone(UTC).isoformat().encode(),
        )
        result = self.pgconn.exec_prepared(b"relance_intake_store", params, _STORE_FORMATS)
        return int(self._check(result, STORE_DELIVERY, params).get_value(0, 0) or b"0")

    def _check(self, result: pq.abc.PGresult, sql: bytes, params: tuple[Any, ...]) -> pq.abc.PGresult:
        if result.status in _OK:
            return result
        dead = not self.alive
        if dead:
            error: psycopg.Error = psycopg.OperationalError("the connection to the database is lost")
        else:
            error = error_from_result(result, encoding=self.conn.info.encoding)
        raise DBAPIError.instance(
            sql.decode(),
            params,
            error,
            psycopg.Error,
            hide_parameters=True,
            connection_invalidated=dead,
            dialect=self.engine.dialect,
        )

    def close(self) -> None:
        self.conn.close()


class IntakeConnections:
    """The intake's connection of each thread of this process, to the database of ``engine``."""

    def __init__(self, engine: Engine, connect_timeout: int) -> None:
        self.engine = engine
        self.conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.connect_timeout = connect_timeout
        self._local = threading.local()

    def run(self, work: Callable[[IntakeConnection], _T]) -> _T:
        """``work`` on this thread's connection, opened if needed; once more on a new one if it was dead.

        If the INSERT had reached the database before the connection broke,
        the retry stores the delivery a second time; processing is
        idempotent, so it is processed once. Raises DBAPIError when the
        database cannot be reached.
        """
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return work(conn)
            except DBAPIError as exc:
                if conn.alive:
                    raise
                self._drop(conn)
                if attempt == 2 or not exc.connection_invalidated:
                    raise
                log.info("the intake's database connection was closed (%s); retrying once", type(exc.orig).__name__)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection(self) -> IntakeConnection:
        conn: IntakeConnection | None = getattr(self._local, "conn", None)
        if conn is not None:
            if conn.pid == os.getpid():
                return conn
            # Inherited through a fork: its socket is the parent's; kept referenced, never closed from here.
            _INHERITED.append(conn)
        try:
            raw = psycopg.Connection.connect(
                self.conninfo, autocommit=True, connect_timeout=self.connect_timeout, client_encoding="utf8"
            )
        except psycopg.Error as exc:
            raise DBAPIError.instance(
                None, None, exc, psycopg.Error, hide_parameters=True, dialect=self.engine.dialect
            ) from exc
        try:
            conn = IntakeConnection(raw, self.engine)
        except BaseException:
            raw.close()
            raise
        self._local.conn = conn
        return conn

    def _drop(self, conn: IntakeConnection) -> None:
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        try:
            conn.close()
        except psycopg.Error:  # pragma: no cover - closing a dead connection
            pass
