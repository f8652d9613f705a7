"""The tenant file's ``campaigns`` section, and what campaigns name in the rest of the file."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.sections import validate_tenant

BASE = {"name": "shop", "platform": "woocommerce", "url": "https://shop.example.com", "timezone": "Europe/Paris"}


def tenant(**extra):
    return validate_tenant({**BASE, **extra})


def test_a_valid_campaign_is_normalised():
    config = tenant(
        segments={"rules": {"lyon": {"field": "city", "equals": "Lyon"}}},
        campaigns={
            "promo": {
                "segment": "lyon",
                "exclude": "at_risk",
                "at": "2026-12-10T10:00",
                "local_time": True,
                "per_hour": 500,
                "priority": "birthday",
                "subject": "Hello",
            }
        },  # fmt: skip
    )
    assert config.campaigns["promo"] == {
        "segment": "lyon",
        "exclude": ["at_risk"],
        "channel": "email",
        "template": "campaign/1",
        "subject": "Hello",
        "at": "2026-12-10T10:00:00",
        "local_time": True,
        "per_hour": 500,
        "priority": "birthday",
    }
    assert validate_tenant(config.to_dict()).campaigns == config.campaigns  # round-trips


@pytest.mark.parametrize(
    ("campaigns", "expected"),
    [
        ({"promo": {"segment": "vip"}}, "campaigns.promo: segment 'vip' does not exist"),
        ({"promo": {"segment": "loyal_customer", "exclude": ["nope"]}}, "segment 'nope' does not exist"),
        (
            {"promo": {"segment": "loyal_customer", "template": "promo/1"}},
            "campaigns.promo.template: no email template 'promo/1'",
        ),
        ({"promo": {"segment": "loyal_customer", "priority": "urgent"}}, "campaigns.promo.priority"),
        ({"promo": {"segment": "loyal_customer", "rule": {"did": "bought"}}}, "needs an audience"),
        ({"promo": {}}, "campaigns.promo: needs an audience"),
        ({"promo": {"segment": "loyal_customer", "per_hour": 0}}, "campaigns.promo.per_hour: must be a whole number"),
        ({"promo": {"segment": "loyal_customer", "sent_by": "x"}}, "campaigns.promo.sent_by: unknown key"),
        ({"promo": {"segment": "loyal_customer", "at": "tomorrow"}}, "campaigns.promo.at: must be a date and time"),
        (
            {"promo": {"segment": "loyal_customer", "at": "2026-12-10T10:00+01:00", "local_time": True}},
            "without offset",
        ),
        ({"Promo!": {"segment": "loyal_customer"}}, "must be a campaign name"),
        ({"promo": {"rule": {"field": "shoe_size", "equals": 1}}}, "campaigns.promo.rule"),
    ],
)
def test_a_bad_campaign_is_refused_naming_the_key(campaigns, expected):
    with pytest.raises(ConfigError) as caught:
        tenant(campaigns=campaigns)
    assert expected in str(caught.value)


def test_a_template_of_the_tenants_own_is_accepted():
    source = "{% extends layout %}{% block subject %}Hi{% endblock %}{% block content %}x{% endblock %}"
    config = tenant(
        messages={"templates": {"email": {"promo/1": {"en": source}}}},
        campaigns={"promo": {"segment": "loyal_customer", "template": "promo/1"}},
    )
    assert config.campaigns["promo"]["template"] == "promo/1"


def test_tenant_apply_refuses_a_flow_whose_template_does_not_exist(tmp_path):
    from relance.tenantfile import load_tenant_file

    flow = "custom: {promo: {trigger: {event: signup}, steps: [{send: email, template: promo/2}]}}"
    file = tmp_path / "shop.yaml"
    file.write_text(f"name: shop\nplatform: woocommerce\nurl: https://shop.example\nflows: {{{flow}}}\n")
    with pytest.raises(ConfigError) as caught:
        load_tenant_file(file)
    assert "flows.custom.promo: send step 1 uses the email template 'promo/2', which does not exist" in str(
        caught.value
    )
    source = "{% extends layout %}{% block subject %}Hi{% endblock %}{% block content %}x{% endblock %}"
    templates = f"messages: {{templates: {{email: {{promo/1: {{en: '{source}'}}}}}}}}\n"
    file.write_text(file.read_text() + templates)
    [config] = load_tenant_file(file)  # promo/1 exists: step 2 falls back to it, as sending does
    assert config.flows["custom"]["promo"]["steps"][0]["template"] == "promo/2"
