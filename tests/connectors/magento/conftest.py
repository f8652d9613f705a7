"""Fixtures of the Magento connector tests: the fake shop behind ``responses``, a tenant config, a connector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses

from connectors.magento.connector import MagentoConnector, from_tenant
from core.sections import validate_tenant
from core.tenants import TenantConfig
from tests.connectors.magento.fakeshop import CREDENTIALS, SHOP_URL, FakeMagento


def tenant_raw(**extra: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": "mage",
        "platform": "magento",
        "url": SHOP_URL,
        "timezone": "Europe/Zurich",
        "currency": "CHF",
        "credentials": dict(CREDENTIALS),
    }
    raw.update(extra)
    return raw


@pytest.fixture
def shop() -> Iterator[FakeMagento]:
    fake = FakeMagento.from_fixtures()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.register(mock)
        yield fake


@pytest.fixture
def config() -> TenantConfig:
    return validate_tenant(tenant_raw())


@pytest.fixture
def make_connector(config: TenantConfig) -> Callable[..., MagentoConnector]:
    def build(page_size: int = 100, **raw: Any) -> MagentoConnector:
        cfg = validate_tenant(tenant_raw(**raw)) if raw else config
        return from_tenant(cfg, sleep=lambda s: None, page_size=page_size)

    return build
