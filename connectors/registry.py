"""Which connector speaks to which platform."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Connector
from core.model import Platform
from core.tenants import TenantConfig

#: platform -> module with ``from_tenant(config, **options) -> Connector``
MODULES = {
    Platform.WOOCOMMERCE: "connectors.woocommerce.connector",
    Platform.MAGENTO: "connectors.magento.connector",
    Platform.PRESTASHOP: "connectors.prestashop.connector",
}


def connector_for(config: TenantConfig, **options: Any) -> Connector:
    """Build the connector of a tenant's platform (options: session, sleep, page_size, ...)."""
    module = importlib.import_module(MODULES[config.platform])
    return module.from_tenant(config, **options)
