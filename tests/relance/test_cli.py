import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from relance.cli import cli
from tests.core.test_events import ORDER


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def _assert_one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("relance: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_tenant_add_list_show(run):
    assert run("tenant", "add", "shop-1", "--platform", "magento", "--url", "https://m.example.com").exit_code == 0
    listed = run("tenant", "list")
    assert "shop-1" in listed.stdout and "magento" in listed.stdout
    shown = run("tenant", "show", "shop-1", "--format", "json")
    assert json.loads(shown.stdout)["platform"] == "magento"
    again = run("tenant", "add", "shop-1", "--platform", "magento", "--url", "https://m.example.com")
    _assert_one_line_error(again, "already exists", "tenant apply")


def test_tenant_add_rejects_an_unknown_platform(run):
    result = run("tenant", "add", "x", "--platform", "shopify", "--url", "https://x.example")
    assert result.exit_code == 2 and "shopify" in result.stderr


def test_tenant_apply_creates_updates_and_masks_secrets(run, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SHOP_SECRET", "cs_live_0123456789abcdef")
    file = tmp_path / "clients.yaml"
    file.write_text(
        "name: client-a\nplatform: woocommerce\nurl: https://a.example\n"
        "credentials: {consumer_key: ck_live_0123456789abcdef, consumer_secret: '${SHOP_SECRET}'}\n"
        "timezone: Europe/Paris\n---\nname: client-b\nplatform: prestashop\nurl: https://b.example\n"
    )
    first = run("tenant", "apply", str(file))
    assert (
        first.exit_code == 0 and "created tenant client-a" in first.stdout and "created tenant client-b" in first.stdout
    )
    assert "updated tenant client-a" in run("tenant", "apply", str(file)).stdout
    shown = run("tenant", "show", "client-a").stdout
    assert "cs_live" not in shown and "ck_live" not in shown and "********cdef" in shown


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("name: a\nplatform: woocommerce\nurl: https://a.example\ncolour: blue\n", ["colour: unknown key", "allowed:"]),
        ("name: a\nplatform: shopify\nurl: https://a.example\n", ["platform: unknown platform 'shopify'"]),
        ("name: [a\n", ["not valid YAML at line"]),
        (
            "name: a\nplatform: woocommerce\nurl: https://a.example\ncredentials: {consumer_key: '${MISSING_VAR_X}'}\n",
            ["MISSING_VAR_X is not set"],
        ),
    ],
)
def test_a_bad_tenant_file_writes_nothing(run, tmp_path: Path, content, fragments):
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nplatform: magento\nurl: https://g.example\n---\n" + content)
    result = run("tenant", "apply", str(good))
    _assert_one_line_error(result, *fragments)
    assert "good" not in run("tenant", "list").stdout


def test_missing_tenant_and_missing_file(run, tmp_path):
    _assert_one_line_error(run("export", "contacts", "--tenant", "nope"), "no tenant named 'nope'")
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    _assert_one_line_error(run("import", "--tenant", "t", str(tmp_path / "absent.jsonl")), "cannot read")
    _assert_one_line_error(run("tenant", "apply", str(tmp_path / "absent.yaml")), "cannot read")


def test_unreachable_database(run, monkeypatch):
    monkeypatch.setenv("RELANCE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = run("tenant", "list")
    _assert_one_line_error(result, "cannot reach the database", "RELANCE_DATABASE_URL")
    assert result.exit_code == 3


def test_import_then_export_and_reimport_changes_nothing(run, tmp_path):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    file = tmp_path / "events.jsonl"
    bad = {**ORDER, "message_id": "bad", "contact": {"email": "not-an-email"}}
    file.write_text(
        "\n".join(
            json.dumps(e)
            for e in (
                ORDER,
                bad,
                {
                    **ORDER,
                    "message_id": "other",
                    "event": "order_updated",
                    "properties": {**ORDER["properties"], "status": "completed"},
                    "timestamp": "2026-11-24T10:00:00Z",
                },
            )
        )
        + "\n"
    )
    first = run("import", "--tenant", "t", str(file))
    assert first.exit_code == 0
    assert "line 2: contact.email: not an email address" in first.stderr
    assert "imported 2 events" in first.stderr
    second = run("import", "--tenant", "t", str(file))
    assert "imported 0 events" in second.stderr and "2 already known" in second.stderr
    orders = [json.loads(line) for line in run("export", "orders", "--tenant", "t").stdout.splitlines()]
    assert len(orders) == 1 and orders[0]["status"] == "completed" and orders[0]["total"] == "49.90"
    contacts = [json.loads(line) for line in run("export", "contacts", "--tenant", "t").stdout.splitlines()]
    assert contacts[0]["email"] == "marie.dupont@example.fr" and contacts[0]["total_spent"] == "49.90"
    csv_out = run("export", "contacts", "--tenant", "t", "--format", "csv").stdout.splitlines()
    assert (
        csv_out[0].startswith("email,first_name,last_name,phone,birthday") and "marie.dupont@example.fr" in csv_out[1]
    )


def test_import_from_stdin(run):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    result = run("import", "--tenant", "t", "-", input=json.dumps(ORDER) + "\n")
    assert result.exit_code == 0 and "imported 1 events" in result.stderr


def test_import_of_orders_in_another_currency_than_the_tenants_says_so(run):
    # issue 11: a tenant added without currency is EUR; USD orders left every total_spent at 0.00 in silence
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    usd = {**ORDER, "properties": {**ORDER["properties"], "currency": "USD"}}
    result = run("import", "--tenant", "t", "-", input=json.dumps(usd) + "\n")
    assert result.exit_code == 0 and "imported 1 events" in result.stderr
    assert "warning: 1 orders are in USD, not in the tenant's currency EUR" in result.stderr
    assert "set currency: USD in the tenant file of t" in result.stderr
    same = run("import", "--tenant", "t", "-", input=json.dumps({**ORDER, "message_id": "eur-1"}) + "\n")
    assert "warning" not in same.stderr
