"""The embedded Redis: one server per data directory, shared, stopped when its last user is gone, never orphaned."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from relance import embedded_redis
from tests.faults.conftest import RELANCE, REPO, wait_until


def _processes(data_dir: Path) -> list[int]:
    """The redis-server and watchdog processes of ``data_dir`` (found by their command lines)."""
    marks = (str(embedded_redis.socket_path(data_dir)).encode(), f"relance.embedded_redis\0{data_dir}".encode())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and any(mark in cmdline for mark in marks):
                found.append(int(entry.name))
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    yield directory
    embedded_redis.release(directory)
    wait_until(lambda: not _processes(directory), 30, what="the embedded Redis to stop after the test")


def _env(data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "RELANCE_REDIS_URL"}
    return {**env, "RELANCE_DATA_DIR": str(data_dir), "RELANCE_SECRET_KEY": "test-secret-key-0123456789"}


def test_two_users_share_one_server_which_stops_with_the_last(data_dir):
    first = embedded_redis.acquire(data_dir)
    first.set("k", "v")
    server_and_watchdog = _processes(data_dir)
    assert len(server_and_watchdog) == 2
    second = embedded_redis.acquire(data_dir)  # same process, second user: same server
    assert second.get("k") == b"v"
    burst = subprocess.run(
        [RELANCE, "worker", "--burst"], env=_env(data_dir), cwd=REPO, capture_output=True, timeout=300, check=False
    )
    assert burst.returncode == 0, burst.stderr.decode()
    assert _processes(data_dir) == server_and_watchdog  # the other process joined it, and left it running
    embedded_redis.release(data_dir)
    assert first.ping()  # one user left
    embedded_redis.release(data_dir)
    wait_until(lambda: not _processes(data_dir), 30, what="the server and its watchdog to stop")


def test_queued_work_survives_a_stop_and_start(data_dir):
    embedded_redis.acquire(data_dir).rpush("rq:queue:relance", "job-1")
    embedded_redis.release(data_dir)
    wait_until(lambda: not _processes(data_dir), 30, what="the server to stop")
    assert (data_dir / "redis.db").exists()
    assert embedded_redis.acquire(data_dir).lrange("rq:queue:relance", 0, -1) == [b"job-1"]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_only_user_leaves_no_server_behind(data_dir, how):
    worker = subprocess.Popen([RELANCE, "worker"], env=_env(data_dir), cwd=REPO, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(_processes(data_dir)) == 2, 120, what="the worker's embedded Redis")
        os.kill(worker.pid, how)
        worker.wait(60)
    finally:
        if worker.poll() is None:
            worker.kill()
    wait_until(lambda: not _processes(data_dir), 30, what="the orphaned server to stop")


def test_the_commands_leave_no_server_behind(data_dir):
    env = _env(data_dir)
    for command in (["tenant", "list"], ["worker", "--burst"]):
        done = subprocess.run([RELANCE, *command], env=env, cwd=REPO, capture_output=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr.decode()
    wait_until(lambda: not _processes(data_dir), 30, what="no embedded Redis left")


def test_a_watchdog_killed_takes_its_server_with_it(data_dir):
    embedded_redis.acquire(data_dir)
    watchdog = int((data_dir / "redis" / "watchdog.pid").read_text())
    os.kill(watchdog, signal.SIGKILL)
    wait_until(lambda: not _processes(data_dir), 30, what="the server to die with its watchdog")
    embedded_redis.release(data_dir)
    assert embedded_redis.acquire(data_dir).ping()  # the next user starts a new one


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL])
def test_relance_serve_leaves_no_server_behind(data_dir, how):
    import json
    import urllib.request

    from tests.faults.conftest import free_port

    port = free_port()
    serve = subprocess.Popen(
        [RELANCE, "serve", "--port", str(port)], env=_env(data_dir), cwd=REPO, stderr=subprocess.DEVNULL
    )
    try:

        def health() -> dict:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:  # noqa: S310
                return json.loads(answer.read())

        assert wait_until(lambda: health()["redis"] == "ok", 120, what="relance serve with its embedded Redis")
        assert len(_processes(data_dir)) == 2
        os.kill(serve.pid, how)
        serve.wait(30)
    finally:
        if serve.poll() is None:
            serve.kill()
    wait_until(lambda: not _processes(data_dir), 30, what="no embedded Redis left after serve")
