"""The demo's console section: an agency admin whose printed credentials sign in, new ones on each run."""

from __future__ import annotations

import re

from relance.demo.console import console_section
from relance.wsgi import web_app
from tests.conftest import NOW, make_tenant
from tests.console.conftest import Clock, login_token, make_runtime


def _credentials(lines):
    found = re.search(r"open (\S+) and sign in as (\S+) with the password (\S+)", " ".join(lines))
    assert found, lines
    return found.groups()


def _signs_in(app, name, password):
    client = app.test_client()
    response = client.post(
        "/console/login", data={"username": name, "password": password, "csrf_token": login_token(client)}
    )
    return response.status_code == 302


def test_the_demo_prints_console_credentials_that_work(sqlite_engine, tmp_path):
    runtime = make_runtime(sqlite_engine, tmp_path, Clock(NOW))
    tenant = make_tenant(sqlite_engine, "demo")
    lines: list[str] = []
    console_section(runtime, tenant, lines.append)
    url, name, password = _credentials(lines)
    assert url == "http://relance.test/console/" and name == "admin"
    app = web_app(runtime, TESTING=True)
    assert _signs_in(app, name, password)
    again: list[str] = []
    console_section(runtime, tenant, again.append)  # a second run: a new password, the old one no longer works
    _, _, second = _credentials(again)
    assert second != password
    assert _signs_in(app, name, second) and not _signs_in(app, name, password)
