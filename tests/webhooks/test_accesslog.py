"""Access logs never hold link tokens or signatures: gunicorn's (relance.accesslog) and Werkzeug's."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from core.flows.survey import survey_url
from core.messages.links import click_url, confirm_url, open_url, sms_link_url, unsubscribe_url
from tests.conftest import NOW
from webhooks.accesslog import REDACTED, redact
from webhooks.app import create_app

KEY = "test-secret-key-0123456789"
BASE = "http://relance.test"


def links() -> list[str]:
    """Real signed links, as they are in messages, without the base URL."""
    urls = [
        click_url(BASE, KEY, 1, 42, "https://shop.example.com/p/93"),
        open_url(BASE, KEY, 1, 42),
        unsubscribe_url(BASE, KEY, 1, 7, 42),
        confirm_url(BASE, KEY, 1, 7, 42, NOW),
        sms_link_url(BASE, KEY, 1, 42, 0),
        survey_url(BASE, KEY, 1, 42, 9),
    ]
    return [url.removeprefix(BASE) for url in urls]


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1].removesuffix(".gif")


def test_redact_cuts_every_link_token_and_secret_parameter():
    for path in links():
        line = f'127.0.0.1 - - [23/Nov/2026] "GET {path} HTTP/1.1" 302 -'
        assert token_of(path) not in redact(line)
        assert REDACTED in redact(line)
    assert redact("/hooks/shop/woocommerce?consumer_key=ck_123&page=2&signature=abc") == (
        f"/hooks/shop/woocommerce?consumer_key={REDACTED}&page=2&signature={REDACTED}"
    )
    assert redact("https://x.example/m/u/abc.def?x=1%26token%3Dsecret") == (
        f"https://x.example/m/u/{REDACTED}?x=1%26token%3D{REDACTED}"
    )
    assert redact("GET /collect/shop HTTP/1.1") == "GET /collect/shop HTTP/1.1"  # nothing else changes
    assert redact("/m/sms/twilio/shop/inbound") == "/m/sms/twilio/shop/inbound"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(port: int, target: str, **headers: str) -> int:
    """GET ``target`` from the test's own server on loopback, redirects not followed; return the status."""
    # the worker answers once it has imported the app: seconds, or a minute on a loaded machine
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_werkzeugs_access_log_holds_no_token(runtime, caplog):
    app = create_app(runtime)
    server = make_server("127.0.0.1", _free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            for path in links():
                _get(server.server_port, f"{path}?signature=s3cr3t")
    finally:
        server.shutdown()
    lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
    assert len(lines) == len(links())
    text = "\n".join(lines)
    for path in links():
        assert token_of(path) not in text
    assert "s3cr3t" not in text
    assert text.count(REDACTED) == 2 * len(links())


@pytest.mark.skipif(shutil.which("gunicorn", path=str(Path(sys.executable).parent)) is None, reason="no gunicorn")
def test_gunicorns_access_log_holds_no_token(sqlite_engine, tmp_path):
    port = _free_port()
    log = tmp_path / "access.log"
    env = {
        **os.environ,
        "RELANCE_DATABASE_URL": str(sqlite_engine.url),
        "RELANCE_DATA_DIR": str(tmp_path / "data"),
        "RELANCE_SECRET_KEY": KEY,
        "RELANCE_REDIS_URL": f"redis://127.0.0.1:{_free_port()}/0",  # none: links never need Redis
    }
    command = [str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    command += ["--logger-class", "relance.accesslog.RedactingLogger", "--access-logfile", str(log)]
    command += ["--access-logformat", '%(h)s "%(r)s" %(s)s "%(f)s" %(U)s?%(q)s', "relance.wsgi:app"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        for path in links():
            _get(port, f"{path}?sig=s3cr3t", Referer=f"https://mail.example{path}")
        for _ in range(100):
            if log.exists() and len(log.read_text().splitlines()) >= len(links()):
                break
            time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(10)
    text = log.read_text()
    assert len(text.splitlines()) == len(links())
    for path in links():
        assert token_of(path) not in text
    assert "s3cr3t" not in text
    assert REDACTED in text
