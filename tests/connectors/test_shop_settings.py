"""The shop's currency, time zone and locale read from the shop; a tenant that disagrees is told what to set."""

from __future__ import annotations

import json
import logging

import responses

from connectors.prestashop.connector import from_tenant as ps_connector
from connectors.settings import ShopSettings, check_settings, differences
from connectors.woocommerce.connector import from_tenant as woo_connector
from core.sections import validate_tenant
from tests.conftest import FIXTURES
from tests.connectors.helpers import API, CREDENTIALS, SHOP_URL
from tests.connectors.prestashop.fakeshop import KEY, FakePrestaShop

PS_URL = "https://ps.example.com"


def woo_config(**extra):
    return validate_tenant(
        {"name": "shop", "platform": "woocommerce", "url": SHOP_URL, "credentials": CREDENTIALS, **extra}
    )


def real_settings(currency: str) -> list[dict]:
    settings = json.loads((FIXTURES / "woocommerce" / "real" / "settings_general.json").read_text(encoding="utf-8"))
    for item in settings:
        if item["id"] == "woocommerce_currency":
            assert item["value"] == "EUR"  # as recorded
            item["value"] = currency
    return settings


def test_a_usd_woocommerce_shop_and_a_tenant_left_at_the_defaults_are_told_apart(caplog):
    caplog.set_level(logging.WARNING)
    config = woo_config()  # no currency, no timezone: EUR and UTC
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/settings/general", json=real_settings("USD"))
        mock.get(f"{SHOP_URL}/wp-json/", json={"name": "Shop", "timezone_string": "America/New_York", "gmt_offset": -5})
        lines = check_settings(woo_connector(config, sleep=lambda s: None), config)
        assert "Authorization" not in mock.calls[1].request.headers  # the public index, no key sent
    assert len(lines) == 2
    assert "the shop's currency is USD but the tenant's is EUR" in lines[0] and "set currency: USD" in lines[0]
    assert "the shop's timezone is America/New_York" in lines[1]
    assert caplog.text.count("tenant shop: the shop's") == 2


def test_a_tenant_that_agrees_with_its_shop_hears_nothing():
    config = woo_config(currency="EUR", timezone="Europe/Paris")
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/settings/general", json=real_settings("EUR"))
        mock.get(f"{SHOP_URL}/wp-json/", json={"timezone_string": "Europe/Paris"})
        assert check_settings(woo_connector(config, sleep=lambda s: None), config) == []


def test_a_shop_that_cannot_say_is_no_error():
    config = woo_config()
    with responses.RequestsMock() as mock:
        mock.get(f"{API}/settings/general", status=403, json={"code": "woocommerce_rest_cannot_view"})
        assert check_settings(woo_connector(config, sleep=lambda s: None), config) == []


def test_prestashop_settings_come_from_its_configuration():
    fake = FakePrestaShop(PS_URL)
    fake.data["configurations"] = [
        {"id": 1, "name": "PS_CURRENCY_DEFAULT", "value": "2"},
        {"id": 2, "name": "PS_TIMEZONE", "value": "Europe/Zurich"},
        {"id": 3, "name": "PS_LANG_DEFAULT", "value": "1"},
        {"id": 4, "name": "PS_SHOP_NAME", "value": "Boutique"},
    ]
    config = validate_tenant(
        {"name": "boutique", "platform": "prestashop", "url": PS_URL, "credentials": {"api_key": KEY}}
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        found = ps_connector(config, sleep=lambda s: None).shop_settings()
    currencies = {str(c["id"]): c["iso_code"] for c in fake.data["currencies"]}
    assert found.currency == currencies["2"] and found.timezone == "Europe/Zurich" and found.locale
    assert [line.split(" is ")[0] for line in differences(config, found)][:2] == [
        "tenant boutique: the shop's currency",
        "tenant boutique: the shop's timezone",
    ]


def test_values_the_shop_sends_in_another_shape_are_normalised_or_left_out():
    assert ShopSettings.parsed(currency="usd", timezone="", locale="fr-FR") == ShopSettings("USD", None, "fr_FR")
    assert ShopSettings.parsed(currency="dollars", timezone="Mars/Olympus") == ShopSettings()
