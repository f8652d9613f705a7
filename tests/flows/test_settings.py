"""The tenant file's ``flows`` section: defaults, errors naming the key, loops of flows refused."""

from datetime import time

import pytest
from click.testing import CliRunner

from core.errors import ConfigError
from core.flows.errors import FlowCycleError
from core.flows.registry import DEFAULT_PRIORITIES
from core.flows.settings import parse, tenant_flows, validate
from core.sections import validate_tenant
from relance.cli import cli

TENANT = {"name": "shop", "platform": "woocommerce", "url": "https://shop.example"}


def test_defaults_for_everything():
    settings, normalised = parse({})
    assert normalised == {}
    assert (settings.pressure.per_day, settings.pressure.per_week) == (1, 3)
    assert (settings.quiet_hours.start, settings.quiet_hours.end) == (time(21), time(8))
    assert (
        settings.priorities
        == DEFAULT_PRIORITIES
        == (
            "abandoned_cart",
            "browse_abandonment",
            "back_in_stock",
            "replenishment",
            "welcome",
            "birthday",
            "cross_sell",
            "post_purchase_survey",
            "win_back",
            "sunset",
        )
    )
    assert settings.abandoned_cart.delays_hours == (1, 24, 72)
    assert settings.birthday.at == time(9) and settings.cross_sell.after_days == 7
    assert settings.cross_sell.products == 4 and settings.replenishment.days_before == 5
    # the lifecycle flows but welcome are off until switched on
    assert list(tenant_flows({}).by_name) == ["abandoned_cart", "birthday", "cross_sell", "replenishment", "welcome"]


def test_settings_round_trip_through_the_tenant_file():
    flows = {
        "pressure": {"per_day": 2, "per_week": 5},
        "quiet_hours": {"start": 1320, "end": "07:30"},  # YAML reads an unquoted 22:00 as 1320
        "priorities": ["birthday"],
        "abandoned_cart": {"delays_hours": [2, 48], "coupon": "SORRY10", "channel": "sms"},
        "cross_sell": {"enabled": False},
        "replenishment": {"intervals": {"101": 30}},
    }
    config = validate_tenant({**TENANT, "flows": flows})
    assert config.flows["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    again = validate_tenant(config.to_dict())
    assert again.flows == config.flows
    settings = tenant_flows(again.flows).settings
    assert settings.priorities[:5] == (
        "birthday",
        "abandoned_cart",
        "browse_abandonment",
        "back_in_stock",
        "replenishment",
    )
    assert settings.abandoned_cart.channel.value == "sms" and settings.replenishment.intervals == {"101": 30.0}
    assert "cross_sell" not in tenant_flows(again.flows).by_name


@pytest.mark.parametrize(
    ("flows", "message"),
    [
        ({"abandonned_cart": {}}, "flows.abandonned_cart: unknown key (allowed: pressure, quiet_hours,"),
        ({"pressure": {"per_day": 0}}, "flows.pressure.per_day: must be a whole number from 1 to 20"),
        ({"pressure": {"per_day": 3, "per_week": 2}}, "flows.pressure.per_week: must be at least per_day (3)"),
        ({"quiet_hours": {"start": "25:00"}}, 'flows.quiet_hours.start: must be a time of day such as "09:00"'),
        ({"birthday": {"channel": "fax"}}, "flows.birthday.channel: unknown channel 'fax' (allowed: email, sms)"),
        ({"birthday": {"enabled": "yes"}}, "flows.birthday.enabled: must be true or false"),
        ({"abandoned_cart": {"delays_hours": [24, 1]}}, "flows.abandoned_cart.delays_hours: must grow"),
        (
            {"replenishment": {"intervals": {"p1": 3}}},
            "flows.replenishment.intervals.p1: must be more than days_before",
        ),
        ({"priorities": ["birthday", "nope"]}, "flows.priorities[1]: unknown flow 'nope'"),
        (
            {"custom": {"greeting": {"trigger": {"event": "account_created"}, "steps": [{"send": "email", "x": 1}]}}},
            "flows.custom.greeting.steps[0].x: unknown key",
        ),
        (
            {"custom": {"greeting": {"trigger": {"event": "account_created"}, "steps": [{"emit": "order_placed"}]}}},
            "flows.custom.greeting.steps[0].emit: order_placed is recorded by the shop or by Relance",
        ),
        (
            {"custom": {"w": {"trigger": {"event": "x"}, "steps": [{"if": {"tagged": "a"}, "then": "later"}]}}},
            "flows.custom.w.steps[0].then: no step has id 'later'",
        ),
        ({"custom": {"birthday": {}}}, "flows.custom.birthday: birthday is a built-in flow"),
    ],
)
def test_a_bad_key_or_value_is_named_with_what_is_allowed(flows, message):
    with pytest.raises(ConfigError) as caught:
        validate_tenant({**TENANT, "flows": flows})
    assert str(caught.value).startswith(message), str(caught.value)


WELCOME = {
    "trigger": {"event": "account_created"},
    "steps": [{"send": "email"}, {"emit": "newsletter_subscribed"}],
}
NEWSLETTER = {
    "trigger": {"event": "newsletter_subscribed"},
    "steps": [{"wait": {"days": 1}}, {"send": "email"}, {"emit": "account_created"}],
}


def test_two_flows_that_trigger_each_other_are_refused_with_the_loop_named():
    with pytest.raises(FlowCycleError) as caught:
        validate({"custom": {"greeting": WELCOME, "newsletter": NEWSLETTER}})
    assert str(caught.value).startswith("flows.custom: greeting -> newsletter -> greeting can trigger each other")


def test_a_loop_through_email_clicks_is_refused_too():
    guide = {"trigger": {"event": "account_created"}, "steps": [{"send": "email", "template": "guide/1"}]}
    download = {
        "trigger": {"event": "email_clicked", "where": {"flow": "guide"}},
        "steps": [{"emit": "newsletter_subscribed"}],
    }
    news = {"trigger": {"event": "newsletter_subscribed"}, "steps": [{"emit": "account_created"}]}
    with pytest.raises(FlowCycleError) as caught:
        validate({"custom": {"guide": guide, "download": download, "news": news}})
    assert "guide -> download -> news -> guide" in str(caught.value)
    # clicks of another flow's emails do not lead to ``download``
    download["trigger"]["where"] = {"flow": "newsletter"}
    validate({"custom": {"guide": guide, "download": download, "news": news}})


def test_a_flow_that_triggers_itself_is_refused():
    again = {"trigger": {"event": "form_submitted"}, "steps": [{"emit": "form_submitted"}]}
    with pytest.raises(FlowCycleError, match="again -> again"):
        validate({"custom": {"again": again}})


def test_a_loop_guarded_by_a_tag_it_sets_is_accepted():
    guarded = {
        "trigger": {"event": "account_created"},
        "steps": [
            {"if": {"not_tagged": "welcomed"}},
            {"tag": "welcomed"},
            {"send": "email"},
            {"emit": "newsletter_subscribed"},
        ],
    }
    validate({"custom": {"greeting": guarded, "newsletter": NEWSLETTER}})
    # a condition on a tag nobody sets guards nothing
    unguarded = {
        **guarded,
        "steps": [{"if": {"not_tagged": "welcomed"}}, {"send": "email"}, {"emit": "newsletter_subscribed"}],
    }
    with pytest.raises(FlowCycleError):
        validate({"custom": {"greeting": unguarded, "newsletter": NEWSLETTER}})
    # nor one whose other branch also leads to the step
    leaky = {
        **guarded,
        "steps": [
            {"if": {"not_tagged": "welcomed"}, "else": "next"},
            {"tag": "welcomed"},
            {"emit": "newsletter_subscribed"},
        ],
    }
    with pytest.raises(FlowCycleError):
        validate({"custom": {"greeting": leaky, "newsletter": NEWSLETTER}})


def test_tenant_apply_reports_a_bad_flows_section_in_one_line(cli_env, tmp_path):
    path = tmp_path / "shop.yaml"
    path.write_text(
        "name: shop\nplatform: woocommerce\nurl: https://shop.example\n"
        "flows:\n  quiet_hours: {start: '21:00', end: '8h'}\n"
    )
    result = CliRunner().invoke(cli, ["tenant", "apply", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"relance: error: {path}: flows.quiet_hours.end: must be a time of day such as \"09:00\" (got '8h')"
    ]
