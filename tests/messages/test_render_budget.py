"""The render budget: runaway user templates refused at `tenant apply`, and stopped at send time."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from core.errors import ConfigError
from core.messages import budget
from core.messages.budget import RenderBudgetError
from core.messages.environment import environment
from core.messages.render import render_text
from core.messages.sending import SendConfig, send_messages
from core.sections import validate_tenant
from core.store.schema import tenants
from relance.cli import cli
from tests.messages.helpers import BASE_URL, SECRET, SENDER, Clock, add_contact, message_row, outbox, shop
from transports.registry import tenant_transports

HEAD = "{% extends layout %}{% block subject %}Hi{% endblock %}{% block content %}<mj-section><mj-column><mj-text>"
TAIL = "</mj-text></mj-column></mj-section>{% endblock %}"
NESTED_RANGES = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


def config_with(body: str):
    raw = {"name": "shop", "platform": "woocommerce", "url": "https://shop.example.com", "locale": "fr_FR"}
    templates = {"email": {"birthday/1": {"fr": HEAD + body + TAIL}}}
    return validate_tenant({**raw, "sender": SENDER, "messages": {"templates": templates}})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (NESTED_RANGES, "CPU"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "CPU"),
        (  # loops over the data, not range(): every loop counts
            "{% for a in products %}{% for b in range(50000) %}{% for c in products %}"
            "{% for d in products %}{% for e in products %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
            "CPU",
        ),
        ("{% macro f(n) %}{% if n < 40 %}{{ f(n + 1) }}{{ f(n + 1) }}{% endif %}{% endmacro %}{{ f(0) }}", "CPU"),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "too deeply"),
        ("{{ 'x' * 1000000000 }}", "characters"),
        ("{{ 2 ** 100000000 }}", "exponent"),
        ("{{ 'x' | center(1000000000) }}", "too large"),
        ("{{ '%1000000000s' % 'x' }}", "format width"),
        ("{{ '%1000000000s' | format('x') }}", "format width"),
        ("{{ '{:>1000000000}'.format('x') }}", "format width"),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
            "characters",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(60) %}"
            "{% set ns.s = ns.s | replace('x', 'xx') %}{% endfor %}",
            "characters",
        ),
        # 3,000,000 characters in 3,000 steps: past the 2,000,000 long before any CPU budget (with
        # range(100000) a loaded machine could reach 0.25 s of CPU first, and the reason was "CPU")
        ("{% for i in range(3000) %}{{ 'x' * 1000 }}{% endfor %}", "characters"),
    ],
)
def test_a_runaway_template_is_refused_when_the_settings_are_applied(body, reason):
    with pytest.raises(ConfigError, match=rf"messages\.templates\.email\.birthday/1\.fr: template .*{reason}"):
        config_with(body)


def test_the_check_at_apply_time_is_tighter_than_at_send_time():
    assert budget.CHECK_SECONDS < 1 and budget.CHECK_SECONDS < budget.SEND_SECONDS


def test_ordinary_templates_keep_working_under_the_budget():
    body = (
        "{% for p in products %}{{ p.name }} {{ loop.index }}/{{ loop.length }}{% if loop.last %}.{% endif %}"
        "{% else %}none{% endfor %} {{ range(3) | list | length }} {{ 2 ** 10 }} {{ '%05d' % 42 }} {{ 'ab' * 3 }}"
        " {{ '{:>6}'.format('r') }} {% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}"
        "{% endfor %}{{ ns.n }} {{ 'x' | center(9) }}"
    )
    from tests.messages.test_templates import compose

    message = compose("birthday/1", cfg=config_with(body))
    assert "Théière en fonte 0,8 L 2/2." in message.text
    assert "3 1024 00042 ababab r 10 x" in message.text  # spaces collapse in the text part


def test_a_runaway_sms_template_is_stopped_by_the_send_budget():
    env = environment({"fr/x/1.sms.txt": NESTED_RANGES})
    with budget.limit(0.05), pytest.raises(RenderBudgetError, match="fr/x/1.sms.txt: rendering took more than 0.05 s"):
        render_text(env, "fr/x/1.sms.txt", {})


def test_relance_tenant_apply_refuses_a_runaway_template_in_one_line(cli_env, tmp_path):
    file = tmp_path / "tenant.yaml"
    template = json.dumps(HEAD + NESTED_RANGES + TAIL)
    file.write_text(
        "name: loopy\nplatform: woocommerce\nurl: https://loopy.example\n"
        f"messages:\n  templates:\n    email:\n      birthday/1:\n        fr: {template}\n"
    )
    result = CliRunner().invoke(cli, ["tenant", "apply", str(file)], catch_exceptions=False)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relance: error: ") and "CPU" in lines[0], result.stderr
    assert "loopy" not in CliRunner().invoke(cli, ["tenant", "list"]).stdout


def test_a_runaway_template_stored_before_the_check_fails_its_message_at_send_time(engine, tmp_path, monkeypatch):
    tenant = shop(engine)
    contact = add_contact(engine, tenant)
    message_id = outbox(engine, tenant, contact, flow="birthday")
    stored = tenant.config.to_dict()
    stored["messages"] = {
        **stored.get("messages", {}),
        "templates": {"email": {"birthday/1": {"fr": HEAD + NESTED_RANGES + TAIL}}},
    }
    with engine.begin() as conn:  # as if the tenant file had been applied before templates were checked
        conn.execute(update(tenants).where(tenants.c.id == tenant.id).values(config=stored))
    monkeypatch.setattr(budget, "SEND_SECONDS", 0.1)
    report = send_messages(engine, [message_id], Clock(), SendConfig(BASE_URL, SECRET), tenant_transports(tmp_path))
    assert report.failed == [message_id]
    row = message_row(engine, message_id)
    assert row.status == "failed" and row.reason == "template" and "rendering took more than 0.1 s of CPU" in row.error


def test_a_render_outside_any_limit_still_runs_under_the_send_budget(monkeypatch):
    monkeypatch.setattr(budget, "SEND_SECONDS", 0.05)
    env = environment()
    with pytest.raises(RenderBudgetError, match="0.05 s"):
        env.from_string(NESTED_RANGES).render()  # a caller rendering with the environment directly
