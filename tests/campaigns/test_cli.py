"""``relance campaign``: create, list, show, preview, test, dry-run, schedule, cancel."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from relance.cli import cli


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def _one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relance: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def _shop(run, tmp_path):
    file = tmp_path / "shop.yaml"
    file.write_text(
        "name: shop\nplatform: woocommerce\nurl: https://shop.example\ntimezone: Europe/Paris\nlocale: fr_FR\n"
        "sender: {name: La Boutique, email: shop@example.fr}\n"
        "segments: {rules: {lyon: {field: city, equals: Lyon}}}\n"
        "campaigns:\n  from-file: {segment: lyon, subject: Depuis le fichier}\n"
        # the dry-run plans as of the real clock: without quiet hours its answer does not depend on the time of
        # day the suite runs (at night in Paris it says scheduled:quiet_hours; test_sending covers quiet hours)
        "flows: {quiet_hours: false}\n"
    )
    assert run("tenant", "apply", str(file)).exit_code == 0
    events = tmp_path / "events.jsonl"
    lines = [
        {"type": "identify", "message_id": f"m{n}", "timestamp": "2026-03-01T10:00:00Z",
         "contact": {"email": f"c{n}@example.fr", "city": "Lyon", "first_name": f"C{n}", "consent": {"email": True}}}
        for n in range(3)
    ]  # fmt: skip
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert run("import", "--tenant", "shop", str(events)).exit_code == 0
    assert run("segments", "--tenant", "shop", "--refresh").exit_code == 0


def test_the_campaign_commands(run, tmp_path):
    _shop(run, tmp_path)
    created = run("campaign", "create", "--tenant", "shop", "--name", "spring", "--segment", "lyon", "--subject",
                  "Le printemps", "--text", "15 % sur tout", "--coupon", "PRINTEMPS15", "--per-hour", "100")  # fmt: skip
    assert created.exit_code == 0 and "campaign 'spring' created: draft" in created.stdout
    listed = run("campaign", "list", "--tenant", "shop").stdout
    assert "spring" in listed and "from-file" in listed and "file" in listed

    preview = run("campaign", "preview", "--tenant", "shop", "spring")
    assert preview.exit_code == 0 and "PRINTEMPS15" in preview.stdout and "Subject: Le printemps" in preview.stderr
    personal = run(
        "campaign", "preview", "--tenant", "shop", "spring", "--contact", "c1@example.fr", "--format", "text"
    )
    assert "C1" in personal.stdout

    sent = run("campaign", "test", "--tenant", "shop", "spring", "--to", "me@example.org")
    assert sent.exit_code == 0 and "test message sent to me@example.org" in sent.stdout
    eml = next((tmp_path / "data" / "outbox" / "shop").glob("*.eml")).read_text()
    assert "To: me@example.org" in eml and "[TEST] Le printemps" in eml

    dry = run("campaign", "dry-run", "--tenant", "shop", "spring")
    lines = [json.loads(line) for line in dry.stdout.splitlines()]
    assert sorted(line["to"] for line in lines) == ["c0@example.fr", "c1@example.fr", "c2@example.fr"]
    assert "3 recipients: scheduled 3" in dry.stderr

    scheduled = run("campaign", "schedule", "--tenant", "shop", "spring", "--at", "2030-03-10T10:00", "--local-time")
    assert scheduled.exit_code == 0 and "starts 2030-03-09T20:00:00Z" in scheduled.stdout
    shown = json.loads(run("campaign", "show", "--tenant", "shop", "spring").stdout)
    assert shown["state"] == "scheduled" and shown["spec"]["local_time"] is True
    assert shown["progress"]["audience"] == 0

    cancelled = run("campaign", "cancel", "--tenant", "shop", "spring")
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.stdout
    _one_line_error(run("campaign", "cancel", "--tenant", "shop", "spring"), "is cancelled", "nothing left")


def test_bad_input_is_one_clear_line(run, tmp_path):
    _shop(run, tmp_path)
    _one_line_error(run("campaign", "create", "--tenant", "shop", "--name", "x", "--segment", "vip"),
                    "segment 'vip' does not exist")  # fmt: skip
    _one_line_error(run("campaign", "create", "--tenant", "shop", "--name", "x", "--segment", "lyon", "--at", "soon"),
                    "x.at: must be a date and time")  # fmt: skip
    _one_line_error(run("campaign", "show", "--tenant", "shop", "nope"), "no campaign 'nope'")
    _one_line_error(run("campaign", "schedule", "--tenant", "shop", "from-file", "--at", "2030-01-01T10:00"),
                    "comes from the tenant file")  # fmt: skip
    assert run("campaign", "create", "--tenant", "shop", "--name", "x", "--segment", "lyon").exit_code == 0
    _one_line_error(run("campaign", "create", "--tenant", "shop", "--name", "x", "--segment", "lyon"), "exists already")


def test_simulate_runs_the_scheduled_campaigns(run, tmp_path):
    _shop(run, tmp_path)
    created = run("campaign", "create", "--tenant", "shop", "--name", "spring", "--segment", "lyon", "--subject",
                  "Le printemps", "--at", "2026-03-02T10:00:00Z")  # fmt: skip
    assert created.exit_code == 0
    events = tmp_path / "events.jsonl"  # the contacts again, in the simulation's scratch copy
    result = run("simulate", "--tenant", "shop", "--events", str(events), "--until", "2026-03-03T00:00:00Z")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    sent = sorted((line["flow"], line["to"], line["time"]) for line in lines if line["flow"].startswith("campaign:"))
    assert sent == [("campaign:spring", f"c{n}@example.fr", "2026-03-02T10:00:00Z") for n in range(3)], result.stderr
    assert all(line["subject"] == "Le printemps" for line in lines if line["flow"] == "campaign:spring")
    assert "campaign:spring: 3 messages" in result.stderr
