"""Engines, migrations and the dialect-neutral upsert."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Engine, Table, any_, bindparam, cast, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.sql.dml import Insert

from core.errors import ConfigError, DatabaseUnavailableError

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def safe_url(url: str) -> str:
    """Return the database URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: ``json_text``'s orjson options: keys that are not strings written as strings (as ``json.dumps`` writes them),
#: datetimes and dataclasses refused (as ``json.dumps`` refuses them) rather than written in orjson's own way.
_JSON_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def json_text(value: Any) -> str:
    """The JSON text of a JSON column's value (the engines' ``json_serializer``), written by orjson in C: through
    ``json.dumps`` an event's properties were 7 % of the store's time in a first sync into SQLite (py-spy).
    What orjson cannot write (an integer beyond 64 bits, a type it does not know) goes to ``json.dumps``, which
    writes it or raises as before. Unlike ``json.dumps``, orjson writes a float NaN or infinity as ``null`` (which
    PostgreSQL's ``jsonb`` reads; ``NaN`` it refused) and text as UTF-8 rather than ``\\u`` escapes."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


def _pg_binary_arrays(dbapi_connection: Any, _record: Any) -> None:
    """Send Python lists to PostgreSQL as binary arrays. psycopg's default text form quotes and escapes every
    element with a regular expression in Python: the page writes of ``core.store.ingest_buffer`` pass one array
    per column (events' properties among them), and building them as text cost 3 of the 4 seconds their
    INSERT took in a 10,000-order first sync (26 ms a page of 100 events; 7 ms in binary)."""
    from psycopg.types.array import ListBinaryDumper

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def among(dialect: str, column: Column[Any], name: str) -> Any:
    """``column IN (:name)`` for a list bound as ``name``: on PostgreSQL ``column = ANY(:name)`` with the list sent
    as one binary array, so that the statement's text is the same whatever the number of values (psycopg then
    caches its parsing and prepares it on the server; an expanded ``IN`` is a new, long statement each time,
    parsed again in Python); on SQLite an expanding ``IN``."""
    if dialect == "postgresql":
        return column == any_(cast(bindparam(name), postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine for a SQLite or PostgreSQL URL.

    ``postgresql://`` URLs use psycopg 3. SQLite gets foreign keys, WAL and a
    busy timeout so that a worker and the web service can share the file.
    Raises ConfigError for an URL that is not one of those.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"RELANCE_DATABASE_URL {url!r} is not a database URL (use sqlite:///path.db or postgresql://host/db)"
        ) from exc
    backend = parsed.get_backend_name()
    kwargs.setdefault("json_serializer", json_text)
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _pg_binary_arrays)
    elif backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            private_sqlite_file(Path(database).expanduser())
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        raise ConfigError(f"RELANCE_DATABASE_URL uses {backend!r}; Relance supports sqlite:/// and postgresql:// URLs")
    return engine


def private_sqlite_file(path: Path) -> None:
    """Make the SQLite file ``path`` readable by its owner only (0600), before SQLite opens it.

    A new file is created empty with mode 0600 (in a new directory of mode
    0700); SQLite gives its ``-wal``, ``-shm`` and ``-journal`` files the
    database file's mode. An existing file, or one of those, readable by
    others is narrowed to 0600 (left as it is when it is not ours to change).
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            if name.stat().st_mode & 0o077:
                name.chmod(0o600)
        except (FileNotFoundError, PermissionError):
            continue


def ping(conn: Connection) -> None:
    """One round trip that proves the database answers (raises the driver's error when it does not)."""
    conn.execute(text("SELECT 1"))


def check_connection(engine: Engine) -> None:
    """Raise DatabaseUnavailableError with a one-line reason if the database does not answer."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "no answer"
        raise DatabaseUnavailableError(
            f"cannot reach the database at {safe_url(str(engine.url))} ({reason}); "
            "check RELANCE_DATABASE_URL and that the server is running"
        ) from exc


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database schema up to date (Alembic ``upgrade heads``)."""
    from alembic import command

    check_connection(engine)
    command.upgrade(alembic_config(engine), "heads")


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    keys: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """INSERT rows, or UPDATE ``update`` columns where ``keys`` already exist.

    With ``update`` empty the existing row is left untouched (insert-or-ignore).
    """
    if not rows:
        return
    dialect = conn.dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - make_engine refuses other backends
        raise ConfigError(f"unsupported database {dialect}")
    if update:
        stmt = stmt.on_conflict_do_update(  # type: ignore[attr-defined]
            index_elements=list(keys),
            set_={name: stmt.excluded[name] for name in update},  # type: ignore[attr-defined]
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))  # type: ignore[attr-defined]
    conn.execute(stmt, rows if isinstance(rows, Sequence) else [rows])
