import pytest

from core.errors import ConfigError
from core.model import Platform
from core.sections import validate_tenant
from core.tenants import masked

BASE = {"name": "shop-1", "platform": "woocommerce", "url": "https://shop.example.com/"}


def test_minimal_tenant_gets_defaults():
    config = validate_tenant(BASE)
    assert config.platform is Platform.WOOCOMMERCE
    assert config.url == "https://shop.example.com"
    assert (config.timezone, config.locale, config.currency) == ("UTC", "en_US", "EUR")
    assert config.sync.interval_minutes == 5
    assert config.sync.concurrent_requests == 3


def test_full_tenant_round_trips():
    raw = {
        **BASE,
        "credentials": {"consumer_key": "ck_1234567890abcdef", "consumer_secret": "cs_1234567890abcdef"},
        "webhook_secret": "whsec-0123456789",
        "timezone": "Europe/Paris",
        "locale": "fr-FR",
        "currency": "eur",
        "sender": {"name": "Maison", "email": "Bonjour@Maison.example"},
        "sync": {"interval_minutes": 15, "birthday_meta_key": "billing_birth_date", "concurrent_requests": 1},
    }
    config = validate_tenant(raw)
    assert config.sync.concurrent_requests == 1
    assert config.locale == "fr_FR" and config.currency == "EUR"
    assert config.sender.email == "bonjour@maison.example"
    assert validate_tenant(config.to_dict()) == config


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"platform": "shopify"}, "platform: unknown platform 'shopify' (allowed: woocommerce|magento|prestashop)"),
        ({"name": "Bad Name"}, "name:"),
        ({"url": "shop.example.com"}, "url:"),
        ({"timezone": "Paris"}, "timezone:"),
        ({"colour": "blue"}, "colour: unknown key"),
        ({"credentials": {"api_key": "x"}}, "credentials.api_key: unknown key"),
        ({"sender": {"name": "A", "email": "nope"}}, "sender.email:"),
        ({"sync": {"interval_minutes": 0}}, "sync.interval_minutes: must be a whole number from 1 to 1440"),
        ({"sync": {"concurrent_requests": 0}}, "sync.concurrent_requests: must be a whole number from 1 to 8"),
        ({"sync": {"concurrent_requests": 9}}, "sync.concurrent_requests: must be a whole number from 1 to 8"),
        ({"sync": {"concurrent_requests": "3"}}, "sync.concurrent_requests: must be a whole number from 1 to 8"),
        ({"sync": {"concurrent_requests": True}}, "sync.concurrent_requests: must be a whole number from 1 to 8"),
        ({"flows": ["abandoned_cart"]}, "flows:"),
    ],
)
def test_bad_values_name_the_key(change, message):
    with pytest.raises(ConfigError) as info:
        validate_tenant({**BASE, **change})
    assert str(info.value).startswith(message)


def test_secrets_are_masked():
    config = validate_tenant(
        {
            **BASE,
            "credentials": {"consumer_key": "ck_1234567890abcdef", "consumer_secret": "short"},
            "webhook_secret": "whsec-0123456789",
        }
    )
    shown = masked(config.to_dict())
    assert shown["credentials"] == {"consumer_key": "********cdef", "consumer_secret": "********"}
    assert shown["webhook_secret"] == "********6789"
    assert shown["url"] == "https://shop.example.com"
