"""``relance report`` and ``relance attribution`` from the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from relance.cli import cli
from tests.conftest import make_tenant
from tests.reports.helpers import at, contact, engage, message, order


def run(cli_env, *args):
    result = CliRunner().invoke(cli, list(args), env=cli_env)
    return result.exit_code, result.output


def _data(engine):
    shop = make_tenant(engine, "results", currency="EUR")
    make_tenant(engine, "other")
    who = contact(engine, shop, "ann@example.com")
    sent = message(engine, shop, who, "welcome", 1, at())
    engage(engine, shop, sent, "email_clicked", at(hours=1), "https://shop.example/a")
    order(engine, shop, "ann@example.com", "1", at(hours=2), "12.50")


def test_report_formats_and_all(engine, cli_env):
    _data(engine)
    code, out = run(cli_env, "report", "--tenant", "results", "--format", "json")
    assert code == 0, out
    assert json.loads(out)["flows"]["welcome"]["revenue"] == "12.50"
    code, out = run(cli_env, "report", "--all", "--format", "json")
    assert code == 0 and sorted(json.loads(out)["tenants"]) == ["other", "results"]
    code, out = run(cli_env, "report", "--tenant", "results", "--since", "2026-06-02")
    assert code == 0 and "welcome" not in out
    code, out = run(cli_env, "report", "--tenant", "results", "--until", "2026-06-01", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("results,flow,welcome,")


def test_report_bad_input_is_one_line(engine, cli_env):
    _data(engine)
    for args, needle in [
        (["report"], "name one tenant with --tenant NAME, or every tenant with --all"),
        (["report", "--tenant", "results", "--since", "June"], "--since 'June': not a date"),
        (["report", "--tenant", "nope"], "no tenant named 'nope'"),
        (["report", "--tenant", "results", "--since", "2026-06-02", "--until", "2026-06-01"], "is not after"),
    ]:
        code, out = run(cli_env, *args)
        assert code == 2 and needle in out and "Traceback" not in out and len(out.strip().splitlines()) == 1, out


def test_attribution_recompute(engine, cli_env):
    _data(engine)
    code, out = run(cli_env, "attribution", "--tenant", "results", "--recompute")
    assert (code, out.strip()) == (0, "results: 1 orders looked at, 1 credited to a message")
    code, out = run(cli_env, "attribution", "--tenant", "results")
    assert code == 2 and "add --recompute" in out
