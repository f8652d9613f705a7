"""Fixtures of the PrestaShop connector tests: the fake shop, a tenant config, a connector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from connectors.prestashop.connector import PrestaShopConnector, from_tenant
from core.sections import validate_tenant
from core.tenants import TenantConfig
from tests.connectors.prestashop.fakeshop import KEY, FakePrestaShop

SHOP_URL = "https://ps.example.com"


def tenant_raw(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "boutique",
        "platform": "prestashop",
        "url": SHOP_URL,
        "timezone": "Europe/Paris",
        "currency": "EUR",
        "credentials": {"api_key": KEY},
    }
    raw.update(extra)
    return raw


@pytest.fixture
def shop() -> Iterator[FakePrestaShop]:
    fake = FakePrestaShop(SHOP_URL)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


@pytest.fixture
def config() -> TenantConfig:
    return validate_tenant(tenant_raw())


@pytest.fixture
def make_connector(shop: FakePrestaShop) -> Callable[..., PrestaShopConnector]:
    """Build a connector on the fake shop (``sleep`` records the waits instead of waiting)."""

    def build(config: TenantConfig | None = None, **options: Any) -> PrestaShopConnector:
        options.setdefault("sleep", lambda seconds: None)
        return from_tenant(config or validate_tenant(tenant_raw()), **options)

    return build
