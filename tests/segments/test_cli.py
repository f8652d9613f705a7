"""``relance segments`` and the export's segment fields, run as a user would."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from core.pipeline import ingest
from core.segments.store.metrics import get_models
from core.segments.store.schema import segment_states
from relance.cli import cli
from tests.conftest import NOW, _engines, make_tenant
from tests.segments import oracle
from tests.segments.shop import build_people, shop_events


@pytest.fixture
def cli_shop(cli_env, db_url):
    engine = _engines[db_url]
    people = build_people(seed=2, count=30)
    tenant = make_tenant(engine, "clishop", segments={"rules": oracle.RULES})
    with engine.begin() as conn:
        for event in shop_events(people, seed=2):
            ingest(conn, tenant, event, NOW)
    return engine, tenant, people


def _expected(engine, tenant, people):
    with engine.connect() as conn:
        now = conn.execute(
            select(segment_states.c.refreshed_at).where(segment_states.c.tenant_id == tenant.id)
        ).scalar()
        model = get_models(conn, tenant.id).purchase
    return {**oracle.builtins(people, now, model.k, model.beta), **oracle.rules(people, now)}


def test_counts_and_members(cli_shop):
    engine, tenant, people = cli_shop
    runner = CliRunner()
    result = runner.invoke(cli, ["segments", "--tenant", "clishop", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    expected = _expected(engine, tenant, people)
    assert counts == {name: len(members) for name, members in expected.items()}
    table = runner.invoke(cli, ["segments", "--tenant", "clishop"], catch_exceptions=False).stdout
    assert [line.split()[0] for line in table.splitlines()] == list(counts)
    shown = runner.invoke(cli, ["segments", "--tenant", "clishop", "--show", "occasional_customer"]).stdout
    assert set(shown.split()) == expected["occasional_customer"] and shown.split() == sorted(shown.split())


def test_rules_defined_from_the_command_line(cli_shop):
    engine, tenant, people = cli_shop
    runner = CliRunner()
    rule = "{did: bought, count: orders, at_least: 2}"
    result = runner.invoke(cli, ["segments", "--tenant", "clishop", "--define", "repeaters", rule, "--format", "json"])
    assert result.exit_code == 0, result.output
    repeaters = {p.email for p in people if p.email and len(oracle.paid_orders(p)) >= 2}
    assert json.loads(result.stdout)["repeaters"] == len(repeaters)
    shown = runner.invoke(cli, ["segments", "--tenant", "clishop", "--show", "repeaters"]).stdout
    assert set(shown.split()) == repeaters
    removed = runner.invoke(cli, ["segments", "--tenant", "clishop", "--remove", "repeaters", "--format", "json"])
    assert "repeaters" not in json.loads(removed.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--show", "vips"], "relance: error: vips: no such segment in clishop"),
        (["--define", "vip", "{did: bought, at_least: two}"], "relance: error: segments.rules.vip.at_least: must be"),
        (["--define", "vip", "{did: [bought"], "relance: error: segments.rules.vip: not valid YAML or JSON"),
        (["--remove", "vip"], "relance: error: vip: no rule-based segment of that name"),
    ],
)
def test_mistakes_are_one_line(cli_shop, args, message):
    result = CliRunner().invoke(cli, ["segments", "--tenant", "clishop", *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_export_contacts_carries_segments_scores_and_predictions(cli_shop):
    engine, tenant, people = cli_shop
    runner = CliRunner()
    runner.invoke(cli, ["segments", "--tenant", "clishop", "--refresh"], catch_exceptions=False)
    out = runner.invoke(cli, ["export", "contacts", "--tenant", "clishop"], catch_exceptions=False).stdout
    rows = {row["email"]: row for row in map(json.loads, out.splitlines())}
    expected = _expected(engine, tenant, people)
    for person in people:
        if not person.email:
            continue
        row = rows[person.email]
        assert set(row["segments"]) == {name for name, members in expected.items() if person.email in members}
        assert row["score"] >= 0
        if oracle.paid_orders(person):
            assert set(row["rfm"]) == {"r", "f", "m"} and all(1 <= v <= 5 for v in row["rfm"].values())
            assert row["order_interval_days"] > 0 and 0 <= row["p_active"] <= 1
            assert row["expected_next_order_at"].endswith("Z")
            assert isinstance(row["predicted_orders"], float) and row["predicted_orders"] >= 0
            assert isinstance(row["predicted_value"], str) and Decimal(row["predicted_value"]) >= 0
        else:
            assert row["rfm"] is None and row["p_active"] is None and row["expected_next_order_at"] is None
            assert row["predicted_orders"] is None and row["predicted_value"] is None
    csv_out = runner.invoke(cli, ["export", "contacts", "--tenant", "clishop", "--format", "csv"]).stdout
    header = "segments,score,rfm,order_interval_days,expected_next_order_at,p_active,predicted_orders,predicted_value"
    assert header in csv_out.splitlines()[0]
