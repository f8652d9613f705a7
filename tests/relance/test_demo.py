import json

import pytest
from click.testing import CliRunner

from relance.cli import cli
from tests.conftest import redis_url


@pytest.fixture
def demo_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RELANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RELANCE_DATABASE_URL", raising=False)
    monkeypatch.delenv("RELANCE_SECRET_KEY", raising=False)
    return tmp_path / "data"


def test_demo_on_embedded_defaults_then_export(demo_env, monkeypatch):
    """The newcomer's path: SQLite file and the embedded Redis, nothing else."""
    monkeypatch.delenv("RELANCE_REDIS_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Maison Lumière" in out
    assert "embedded Redis" in out
    assert " 0 rejected" in out and "FAILED" not in out
    assert (demo_env / "relance.db").exists() and (demo_env / "demo" / "sample-shop.jsonl").exists()
    exported = runner.invoke(cli, ["export", "contacts", "--tenant", "demo"], catch_exceptions=False)
    contacts = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(contacts) == 300
    assert all(c["email"] for c in contacts)
    assert sum(c["orders_count"] for c in contacts) > 300
    # Running it again loads nothing twice.
    again = runner.invoke(cli, ["demo"], catch_exceptions=False)
    assert " 0 events stored" in again.stdout
    exported_again = runner.invoke(cli, ["export", "contacts", "--tenant", "demo"], catch_exceptions=False)
    # The lead score decays with time, and the predictions look ahead from now (a customer's age and time since
    # the last order grow): the second run's refresh may move them by the minutes the demo took, a little.
    # Everything else is the same, byte for byte.
    first = [json.loads(line) for line in exported.stdout.splitlines()]
    second = [json.loads(line) for line in exported_again.stdout.splitlines()]
    assert [c["email"] for c in second] == [c["email"] for c in first]
    for before, after in zip(first, second, strict=True):
        assert abs((after.pop("score") or 0) - (before.pop("score") or 0)) <= 0.05, before["email"]
        for key in ("p_active", "predicted_orders", "predicted_value"):
            was, now = (None if v is None else float(v) for v in (before.pop(key, None), after.pop(key, None)))
            assert (was is None) == (now is None), (before["email"], key)
            assert was is None or abs(now - was) <= 0.01 * max(abs(was), 1.0), (before["email"], key, was, now)
        assert after == before


def test_demo_through_a_redis_server(demo_env, redis, redis_db, monkeypatch):
    monkeypatch.setenv("RELANCE_REDIS_URL", redis_url(redis_db))
    result = CliRunner().invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "embedded" not in result.stdout and " 0 rejected" in result.stdout


def test_demo_says_how_to_fix_an_unreachable_redis(demo_env, monkeypatch):
    monkeypatch.setenv("RELANCE_REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(cli, ["demo"])
    assert result.exit_code == 3
    assert result.stderr.strip().startswith("relance: error: cannot reach Redis at redis://127.0.0.1:1/0")
    assert "RELANCE_REDIS_URL" in result.stderr and "Traceback" not in result.output
