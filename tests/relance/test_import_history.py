"""``relance import`` of past orders: ``relance export contacts`` right after shows segments, scores, predictions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from relance.cli import cli


@pytest.fixture
def run(cli_env):
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, list(args), catch_exceptions=False)


def _order(index: int, days_ago: float, number: int) -> dict:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    return {
        "type": "track",
        "event": "order_placed",
        "message_id": f"o-{index}-{number}",
        "timestamp": when.isoformat(),
        "contact": {"email": f"client{index}@example.fr", "consent": {"email": True}},
        "properties": {
            "order_id": f"{index}-{number}",
            "status": "completed",
            "currency": "EUR",
            "total": "20.00",
            "items": [{"product_id": f"p{number % 3}", "name": "Thé", "quantity": 1, "price": "20.00"}],
        },
    }


def test_export_right_after_an_import_shows_segments_scores_and_predictions(run, tmp_path):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    lines = [_order(i, 300 - 40 * n - i, n) for i in range(25) for n in range(1 + i % 4)]
    file = tmp_path / "history.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = run("import", "--tenant", "t", str(file))
    assert result.exit_code == 0 and f"imported {len(lines)} events" in result.stderr
    contacts = {c["email"]: c for c in map(json.loads, run("export", "contacts", "--tenant", "t").stdout.splitlines())}
    assert len(contacts) == 25
    loyal = contacts["client3@example.fr"]  # 4 orders, 40 days apart
    assert loyal["segments"] and loyal["rfm"] and loyal["score"] is not None, loyal
    assert loyal["order_interval_days"] and loyal["p_active"] is not None and loyal["predicted_orders"] is not None
