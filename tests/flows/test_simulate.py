"""``relance simulate`` and the demo's flows section."""

import json
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from core.events import event_to_dict
from relance.cli import cli
from relance.demo import sampleshop
from relance.demo.run import DEMO_TENANT

from .helpers import at, cart, item, order, person

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _tenant(runner, tmp_path, name="shop", flows=""):
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nplatform: woocommerce\nurl: https://{name}.example\ntimezone: Europe/Paris\n{flows}"
    )
    assert runner.invoke(cli, ["tenant", "apply", str(path)]).exit_code == 0


def _write(path, events, extra_lines=()):
    lines = [json.dumps(event_to_dict(e)) for e in events] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


@SQLITE_ONLY
def test_simulate_prints_each_message_in_time_order_and_a_summary(cli_env, tmp_path):
    runner = CliRunner()
    _tenant(runner, tmp_path, flows="flows:\n  abandoned_cart: {coupon: SORRY10}\n")
    marie = person("marie@example.fr")
    events = [
        order(at(days=-30), person("other@example.fr", consent=None), [item("p1"), item("p2")], "o0"),
        cart(at(), marie, [item("p1")]),
        cart(at(), person("nope@example.fr", consent=None), [item("p1")], "c2"),
    ]
    path = _write(tmp_path / "events.jsonl", events, ["", "# a comment", "{not json", '{"type": "track"}'])
    result = runner.invoke(cli, ["simulate", "--tenant", "shop", "--events", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(m["time"], m["flow"], m["step"], m["channel"], m["to"], m["products"]) for m in lines] == [
        ("2026-03-02T11:00:00Z", "abandoned_cart", 1, "email", "marie@example.fr", ["p1"]),
        ("2026-03-03T10:00:00Z", "abandoned_cart", 2, "email", "marie@example.fr", ["p1"]),
        ("2026-03-05T10:00:00Z", "abandoned_cart", 3, "email", "marie@example.fr", ["p1"]),
    ]
    assert set(lines[0]) == {"time", "flow", "step", "channel", "to", "subject", "products"}
    err = result.stderr
    assert f"{path}: line 6: invalid JSON" in err and f"{path}: line 7: event: is required" in err
    assert "abandoned_cart: 3 messages (step 1: 1, step 2: 1, step 3: 1)" in err
    assert "held back: 3 by consent" in err and "nothing was sent" in err


@SQLITE_ONLY
def test_simulate_until_and_only_some_flows(cli_env, tmp_path):
    runner = CliRunner()
    _tenant(runner, tmp_path, flows="flows:\n  abandoned_cart: {enabled: false}\n")
    path = _write(tmp_path / "events.jsonl", [cart(at(), person("marie@example.fr"), [item("p1")])])
    # switched off in the tenant's settings: nothing
    off = runner.invoke(cli, ["simulate", "--tenant", "shop", "--events", str(path)])
    assert off.exit_code == 0 and off.stdout == ""
    # previewed on its own before switching it on, up to a time
    only = runner.invoke(
        cli,
        [
            "simulate",
            "--tenant",
            "shop",
            "--events",
            str(path),
            "--flow",
            "abandoned_cart",
            "--until",
            "2026-03-03T12:00:00+01:00",
        ],
    )
    assert only.exit_code == 0, only.output
    assert [json.loads(line)["step"] for line in only.stdout.splitlines()] == [1, 2]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "nope", "--events", "EVENTS"], "relance: error: no tenant named 'nope'"),
        (["--tenant", "shop", "--events", "missing.jsonl"], "relance: error: missing.jsonl: cannot read"),
        (
            ["--tenant", "shop", "--events", "EVENTS", "--until", "2026-03-03"],
            "relance: error: --until: date and time has no time zone offset",
        ),
        (["--tenant", "shop", "--events", "EVENTS", "--flow", "nope"], "relance: error: --flow: unknown flow 'nope'"),
    ],
)
def test_simulate_mistakes_are_one_line(cli_env, tmp_path, args, message):
    runner = CliRunner()
    _tenant(runner, tmp_path)
    path = _write(tmp_path / "events.jsonl", [cart(at(), person("marie@example.fr"), [item("p1")])])
    result = runner.invoke(cli, ["simulate", *[str(path) if a == "EVENTS" else a for a in args]])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and "Traceback" not in result.output


@SQLITE_ONLY
def test_simulate_on_the_demo_shop(cli_env, tmp_path):
    runner = CliRunner()
    path = tmp_path / "demo.yaml"
    import yaml

    path.write_text(yaml.safe_dump(DEMO_TENANT, allow_unicode=True))
    assert runner.invoke(cli, ["tenant", "apply", str(path)]).exit_code == 0
    raw = sampleshop.generate(date(2026, 11, 24), contacts=80)
    events_path = tmp_path / "sample.jsonl"
    events_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in raw))
    result = runner.invoke(cli, ["simulate", "--tenant", "demo", "--events", str(events_path)])
    assert result.exit_code == 0, result.output
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    flows = Counter(m["flow"] for m in messages)
    assert {"abandoned_cart", "birthday", "cross_sell", "replenishment", "welcome"} <= set(flows), flows
    assert [m["time"] for m in messages] == sorted(m["time"] for m in messages)
    assert all(m["subject"] for m in messages)
    # the rules hold: at most one a day per contact in their zone, nothing in quiet hours, only opted-in people
    zones = {}
    opted_in = set()
    for r in raw:
        contact = r.get("contact") or {}
        if contact.get("timezone"):
            zones[contact["email"].lower()] = contact["timezone"]
        if (contact.get("consent") or {}).get("email"):
            opted_in.add(contact["email"].lower())
    days = Counter()
    for m in messages:
        local = datetime.fromisoformat(m["time"].replace("Z", "+00:00")).astimezone(ZoneInfo(zones[m["to"]]))
        assert 8 <= local.hour < 21
        days[(m["to"], local.date())] += 1
        assert m["to"] in opted_in
    assert max(days.values()) == 1
    assert "held back:" in result.stderr


def test_the_demo_section_shows_what_each_flow_would_send(engine, tmp_path):
    from core.events import parse_event
    from core.pipeline import ingest_batch
    from core.sections import validate_tenant
    from core.store.tenants import upsert_tenant
    from relance.demo.flows import flows_section
    from relance.settings import Settings
    from relance.wiring import Runtime

    now = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("UTC"))
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(conn, validate_tenant(DEMO_TENANT), now)
    events = [parse_event(raw, "import") for raw in sampleshop.generate(now.date(), contacts=150)]
    ingest_batch(engine, tenant, events, lambda: now)
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(tmp_path), "RELANCE_SECRET_KEY": "x" * 20})
    lines: list[str] = []
    flows_section(Runtime(settings=settings, engine=engine, clock=lambda: now), tenant, lines.append)
    text = "\n".join(lines)
    for flow in ("abandoned_cart", "birthday", "cross_sell", "replenishment"):
        assert f"             {flow}: " in text, text
        assert f" {flow} step " in text, text
    assert "held back:" in text and "nothing sent" in text
    # a copy was simulated: the shop's own outbox is untouched
    from tests.flows.helpers import outbox

    assert outbox(engine, tenant) == []
