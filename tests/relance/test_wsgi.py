"""``relance.wsgi:app``: what gunicorn runs, built from the environment when gunicorn asks for it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from relance import wsgi
from relance.cli import cli
from tests.conftest import redis_url


def test_importing_the_module_builds_nothing_and_app_is_built_once(cli_env, redis, redis_db, monkeypatch):
    monkeypatch.setenv("RELANCE_REDIS_URL", redis_url(redis_db))
    monkeypatch.setattr(wsgi, "_app", None)
    app = wsgi.app
    assert wsgi.app is app
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert {k: v for k, v in health.get_json().items() if k != "workers"} == {
        "status": "ok",
        "database": "ok",
        "redis": "ok",
    }


def test_gunicorn_serves_relance_wsgi_app(cli_env, redis, redis_db):
    assert CliRunner().invoke(cli, ["tenant", "list"]).exit_code == 0  # migrates, as the docs say to
    port = _free_port()
    env = {**os.environ, **cli_env, "RELANCE_REDIS_URL": redis_url(redis_db)}
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    server = subprocess.Popen(
        [gunicorn, "--workers", "1", "--bind", f"127.0.0.1:{port}", "relance.wsgi:app"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert json.loads(_get_when_up(f"http://127.0.0.1:{port}/healthz"))["database"] == "ok"
    finally:
        server.terminate()
        server.communicate(timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_when_up(url: str) -> bytes:
    for _ in range(150):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local test server
                return response.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not start")
