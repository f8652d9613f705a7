"""The segments and scoring sections of a tenant file: valid ones pass, invalid ones name the bad part."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.scoring import scoring_settings
from core.scoring import validate as validate_scoring
from core.sections import validate_tenant
from core.segments.rules import AllOf, Behaviour, Compare, FieldCondition, Not, Window
from core.segments.settings import segment_settings, validate
from tests.segments.oracle import RULES


def test_the_issue_examples_parse():
    settings = segment_settings(validate({"rules": RULES}))
    rules = dict(settings.rules)
    assert rules["big_buyers"] == Behaviour("bought", "items", Compare("at_least", 6.0), Window("months", 6))
    tea = rules["tea_browsers"]
    assert isinstance(tea, AllOf) and isinstance(tea.parts[1], Not)
    assert FieldCondition("city", "equals", "lyon") in rules["lyon_birthdays"].parts


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rules": {"vip": {"all": [{"did": "bought"}, {"did": "bought", "at_least": 1.5}]}}},
         "segments.rules.vip.all[1].at_least: must be a whole number, 0 or more"),
        ({"rules": {"vip": {"did": "bought", "count": "clicks"}}},
         "segments.rules.vip.count: must be one of orders, items, products, amount for did: bought"),
        ({"rules": {"vip": {"any": [{"field": "town", "equals": "Lyon"}]}}},
         "segments.rules.vip.any[0].field: unknown field 'town'"),
        ({"rules": {"vip": {"did": "viewed", "where": {"colour": "red"}}}},
         "segments.rules.vip.where.colour: unknown filter for did: viewed"),
        ({"rules": {"vip": {"did": "bought", "in_last": {"days": 0}}}},
         "segments.rules.vip.in_last.days: must be a whole number from 1 to"),
        ({"rules": {"vip": {"did": "bought", "in_last": {"fortnights": 2}}}},
         "segments.rules.vip.in_last.fortnights: unknown unit"),
        ({"rules": {"vip": {"not": {"segment": "nobody"}}}},
         "segments.rules.vip: refers to segment 'nobody'"),
        ({"rules": {"a": {"segment": "b"}, "b": {"segment": "a"}}}, "segments.rules.a: segments refer to each other in a loop (a -> b -> a)"),
        ({"rules": {"loyal_customer": {"did": "bought"}}}, "segments.rules.loyal_customer: loyal_customer is a built-in"),
        ({"rules": {"Big Buyers": {"did": "bought"}}}, "segments.rules.Big Buyers: segment names use"),
        ({"rules": {"vip": {"field": "birthday", "is": "tomorrow"}}}, "segments.rules.vip.is: must be one of today"),
        ({"rules": {"vip": {"field": "city", "equals": "Lyon", "in": ["Paris"]}}}, "segments.rules.vip.in: give one test per condition"),
        ({"rules": {"vip": {"did": "bought", "at_least": 2, "more_than": 1}}}, "segments.rules.vip.more_than: give only one"),
        ({"rules": {"vip": {"maybe": True}}}, "segments.rules.vip: unknown condition 'maybe'"),
        ({"thresholds": {"loyal_orders": 0}}, "segments.thresholds.loyal_orders: must be a whole number from 1 to 1000"),
        ({"thresholds": {"loyalty": 3}}, "segments.thresholds.loyalty: unknown threshold"),
        ({"colours": {}}, "segments.colours: unknown key"),
    ],
)  # fmt: skip
def test_invalid_sections_name_the_bad_part(section, message):
    with pytest.raises(ConfigError) as info:
        validate(section)
    assert str(info.value).startswith(message), str(info.value)


def test_the_tenant_file_validates_its_segments_and_scoring():
    raw = {"name": "s", "platform": "woocommerce", "url": "https://s.example.com"}
    config = validate_tenant({**raw, "segments": {"rules": RULES}, "scoring": {"points": {"email_clicked": 5}}})
    assert set(config.segments["rules"]) == set(RULES)
    assert validate_tenant(config.to_dict()) == config
    with pytest.raises(ConfigError, match=r"^segments.rules.x.did: must be one of"):
        validate_tenant({**raw, "segments": {"rules": {"x": {"did": "Bought!"}}}})
    with pytest.raises(ConfigError, match=r"^scoring.half_life_days: must be a number of days"):
        validate_tenant({**raw, "scoring": {"half_life_days": 0}})


def test_scoring_points_merge_over_the_defaults():
    settings = scoring_settings(validate_scoring({"points": {"email_clicked": 7, "email_opened": 0}}))
    assert settings.points_of("email_clicked") == 7 and settings.points_of("order_placed") == 10
    assert "email_opened" not in settings.scored
    with pytest.raises(ConfigError, match=r"^scoring.points.email_clicked: must be a number of points"):
        validate_scoring({"points": {"email_clicked": -1}})
