"""The commands: a signed WooCommerce delivery to 'relance export orders'; 'relance deliveries'; 'relance serve'."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from click.testing import CliRunner

from core.store.db import make_engine
from relance.cli import cli
from relance.wsgi import make_app
from tests.conftest import make_tenant, redis_url
from tests.webhooks.conftest import SECRET
from tests.webhooks.payloads import delivery_headers, order, wp_json

URL = "/hooks/shop/woocommerce"


def setup(cli_env, redis_db, monkeypatch):
    monkeypatch.setenv("RELANCE_REDIS_URL", redis_url(redis_db))
    engine = make_engine(cli_env["RELANCE_DATABASE_URL"])
    make_tenant(engine, "shop", webhook_secret=SECRET)
    return make_app(TESTING=True).test_client()


def post(client, payload, topic="order.created"):
    body = wp_json(payload)
    return client.post(URL, data=body, headers=delivery_headers(topic, body, SECRET))


def test_a_delivery_signed_as_woocommerce_signs_shows_up_in_export_orders(cli_env, redis, redis_db, monkeypatch):
    client = setup(cli_env, redis_db, monkeypatch)
    assert post(client, order()).status_code == 200
    runner = CliRunner()
    result = runner.invoke(cli, ["worker", "--burst"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    exported = runner.invoke(cli, ["export", "orders", "--tenant", "shop"])
    assert exported.exit_code == 0, exported.output
    [line] = exported.stdout.splitlines()
    row = json.loads(line)
    assert (row["external_id"], row["status"], row["total"], row["currency"]) == ("727", "paid", "66.60", "EUR")


def test_failed_deliveries_are_listed_and_replayed_once_fixed(cli_env, redis, redis_db, monkeypatch):
    client = setup(cli_env, redis_db, monkeypatch)
    post(client, order())
    post(client, order(id=728, number="728", currency="EURO"))  # not an ISO 4217 code: fails
    runner = CliRunner()
    assert runner.invoke(cli, ["worker", "--burst"]).exit_code == 0

    listed = runner.invoke(cli, ["deliveries", "--tenant", "shop", "--failed"])
    assert listed.exit_code == 0
    [line] = listed.stdout.splitlines()
    failed_id = int(line.split()[0])
    assert "failed" in line and "currency" in line

    everything = runner.invoke(cli, ["deliveries", "--tenant", "shop"])
    assert len(everything.stdout.splitlines()) == 2

    again = runner.invoke(cli, ["deliveries", "--replay", str(failed_id)])
    assert again.exit_code == 2
    assert again.stderr.startswith(f"relance: error: delivery {failed_id} failed again: ")
    assert "Traceback" not in again.output

    # The shop fixed the order (a new state arrives); the old broken delivery stays failed and can be read.
    shown = runner.invoke(cli, ["deliveries", "--show", str(failed_id)])
    assert shown.exit_code == 0
    assert '"X-WC-Webhook-Topic": "order.created"' in shown.stdout
    assert '"currency":"EURO"' in shown.stdout


def test_replay_processes_a_delivery_that_failed_for_a_reason_now_gone(cli_env, redis, redis_db, monkeypatch):
    client = setup(cli_env, redis_db, monkeypatch)
    post(client, order(), topic="order.deleted")  # deleting an order we never saw: ignored
    runner = CliRunner()
    delivery_id = int(runner.invoke(cli, ["deliveries", "--tenant", "shop"]).stdout.split()[0])
    result = runner.invoke(cli, ["deliveries", "--replay", str(delivery_id)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"delivery {delivery_id}: ignored")


def test_deliveries_errors_are_one_line(cli_env, redis, redis_db, monkeypatch):
    setup(cli_env, redis_db, monkeypatch)
    runner = CliRunner()
    result = runner.invoke(cli, ["deliveries"])
    assert result.exit_code == 2
    assert "--tenant NAME" in result.stderr and "shop" in result.stderr
    result = runner.invoke(cli, ["deliveries", "--replay", "424242"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "relance: error: no delivery with id 424242; list them with 'relance deliveries --tenant NAME'"
    )
    result = runner.invoke(cli, ["deliveries", "--tenant", "nope"])
    assert result.exit_code == 2


def test_relance_serve_answers_over_http(cli_env, redis, redis_db, monkeypatch):
    setup(cli_env, redis_db, monkeypatch)
    port = _free_port()
    env = {**os.environ, **cli_env, "RELANCE_REDIS_URL": redis_url(redis_db)}
    relance = str(Path(sys.executable).with_name("relance"))
    server = subprocess.Popen(
        [relance, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        health = _get_when_up(f"http://127.0.0.1:{port}/healthz")
        assert json.loads(health) == {
            "status": "ok",
            "database": "ok",
            "redis": "ok",
            "workers": {"alive": 0, "last_heartbeat_seconds_ago": None, "last_periodic_run_seconds_ago": None},
        }
        body = wp_json(order())
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{URL}", data=body, headers=delivery_headers("order.created", body, SECRET)
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - a local test server
            assert response.status == 200
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert f"serving on http://127.0.0.1:{port}" in output
    assert SECRET not in output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_when_up(url: str) -> bytes:
    deadline = time.monotonic() + 120  # importing the app takes seconds, or a minute on a loaded machine
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local test server
                return response.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError("relance serve did not start")
