"""Shared fixtures: real databases (SQLite always, PostgreSQL when it answers), real Redis.

Every test run gets its own PostgreSQL database and its own Redis database
number, so that several runs on one machine do not see each other's data. A
test that needs a server that does not answer is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from core.secrets import Keyring
from core.sections import validate_tenant
from core.store.db import make_engine, migrate
from core.store.registry import all_metadata
from core.store.tenants import Tenant, upsert_tenant, use_keyring

PG_ADMIN_URL = os.environ.get("RELANCE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("RELANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures"
#: The RELANCE_SECRET_KEY of the tests' commands (``cli_env``); the tests' engines encrypt secrets with it too.
TEST_SECRET_KEY = "test-secret-key-0123456789"  # noqa: S105 - a test key


def _pg_reason() -> str | None:
    try:
        engine = make_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "skip with the reason"
        return f"PostgreSQL at {PG_ADMIN_URL} does not answer: {str(exc).splitlines()[0]}"
    return None


@pytest.fixture(autouse=True)
def _pages_produced_in_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Syncs produce their pages in a thread here, not in a forked child (production's default on Linux):
    ``responses`` fakes HTTP, and records the calls, in the process that makes them. The child process is
    tested on its own (tests/connectors/test_sync_forked.py) and by the live suite, which runs ``relance``."""
    monkeypatch.setattr("connectors.sync.PRODUCER", "thread")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database for this test run, dropped at the end."""
    reason = _pg_reason()
    if reason:
        pytest.skip(reason)
    name = f"relance_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'relance.db'}"


_engines: dict[str, Engine] = {}


def _migrated_engine(url: str) -> Engine:
    if url not in _engines:
        engine = make_engine(url)
        use_keyring(engine, Keyring(TEST_SECRET_KEY))
        migrate(engine)
        _engines[url] = engine
    return _engines[url]


@contextlib.contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block, in order (a list filled as they run)."""
    counted: list[str] = []

    def count(conn, cursor, statement, *args) -> None:  # noqa: ANN001 - SQLAlchemy's event signature
        counted.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def wipe(engine: Engine) -> None:
    """Delete every row of every table (children first)."""
    with engine.begin() as conn:
        for table in reversed(all_metadata().sorted_tables):
            conn.execute(table.delete())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated database URL: SQLite, then PostgreSQL (skipped when absent)."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (the migration is run down and up in it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("pg_url")  # skips when PostgreSQL does not answer
    name = f"relance_fresh_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine, emptied before the test."""
    engine = _migrated_engine(db_url)
    wipe(engine)
    yield engine


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Engine:
    engine = _migrated_engine(sqlite_url)
    wipe(engine)
    return engine


def make_tenant(engine: Engine, name: str = "shop", platform: str = "woocommerce", **extra: object) -> Tenant:
    """Create a tenant in ``engine`` with sensible defaults and return it."""
    raw = {"name": name, "platform": platform, "url": f"https://{name}.example.com", "timezone": "Europe/Paris"}
    raw.update(extra)
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
    return tenant


@pytest.fixture
def tenant(engine: Engine) -> Tenant:
    return make_tenant(engine)


REDIS_LEASE_SECONDS = 4 * 3600


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    """A Redis database number of its own for this run (1-15), leased so that two runs never share one.

    The lease is a key in database 0 (``relance-test:db:N``, set only if absent, expiring after a few
    hours in case a run is killed); the run takes the first free number and gives it back at the end.
    """
    from redis import Redis

    admin = Redis.from_url(f"{REDIS_URL}/0")
    try:
        admin.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for number in range(1, 16):
        if admin.set(f"relance-test:db:{number}", token, nx=True, ex=REDIS_LEASE_SECONDS):
            break
    else:
        pytest.fail("every Redis database 1-15 is leased by another test run; wait for one to finish")
    yield number
    if admin.get(f"relance-test:db:{number}") == token.encode():
        admin.delete(f"relance-test:db:{number}")
    admin.close()


def redis_url(redis_db: int) -> str:
    """The URL of this run's Redis database."""
    return f"{REDIS_URL}/{redis_db}"


@pytest.fixture
def redis(redis_db: int) -> Iterator[object]:
    """The real Redis server, on a database number of this run's, flushed around the test."""
    from redis import Redis

    client = Redis.from_url(f"{REDIS_URL}/{redis_db}")
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"Redis at {REDIS_URL} does not answer: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def cli_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for running the CLI against the test database."""
    env = {
        "RELANCE_DATABASE_URL": db_url,
        "RELANCE_DATA_DIR": str(tmp_path / "data"),
        "RELANCE_SECRET_KEY": TEST_SECRET_KEY,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RELANCE_REDIS_URL", raising=False)
    _migrated_engine(db_url)
    wipe(_engines[db_url])
    return env
