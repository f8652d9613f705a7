"""The data directory is its owner's alone: 0700, the SQLite database and the secret key 0600."""

from __future__ import annotations

import stat
from pathlib import Path

import sqlalchemy as sa

from core.store.db import make_engine
from relance import embedded_redis
from relance.settings import Settings
from relance.wiring import build_runtime, start_embedded_redis


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_dir_database_and_key_are_private(tmp_path: Path):
    data = tmp_path / "relance"
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(data)})  # no key given: one is generated
    assert _mode(data) == 0o700 and _mode(data / "secret.key") == 0o600
    runtime = build_runtime(settings)
    try:
        with runtime.engine.begin() as conn:  # WAL mode: the -wal and -shm files exist while a connection is open
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS probe (x integer)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
            files = [data / "relance.db", data / "relance.db-wal", data / "relance.db-shm"]
            assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert _mode(data) == 0o700
    finally:
        runtime.engine.dispose()


def test_an_existing_data_dir_is_narrowed(tmp_path: Path):
    data = tmp_path / "relance"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "relance.db").touch()
    (data / "relance.db").chmod(0o644)
    (data / "secret.key").write_text("an-old-generated-secret-0123456789")
    (data / "secret.key").chmod(0o644)
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(data)})
    assert settings.secret_key == "an-old-generated-secret-0123456789"
    runtime = build_runtime(settings)
    runtime.engine.dispose()
    assert _mode(data) == 0o700
    assert _mode(data / "relance.db") == 0o600 and _mode(data / "secret.key") == 0o600


def test_a_sqlite_file_elsewhere_is_created_private(tmp_path: Path):
    path = tmp_path / "new-dir" / "shop.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700


def test_the_embedded_redis_keeps_its_files_private(tmp_path: Path):
    data = tmp_path / "relance"
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(data), "RELANCE_SECRET_KEY": "k" * 32})
    client = start_embedded_redis(settings)
    try:
        client.set("probe", "1")
        client.save()
        socket_file = embedded_redis.socket_path(data)
        assert _mode(data) == 0o700  # its dump (redis.db) lives here
        assert (data / "redis.db").exists()
        assert _mode(socket_file.parent) == 0o700 and _mode(socket_file) & 0o077 == 0
    finally:
        client.close()
        embedded_redis.release(data)  # the server stops with its last user
