"""The shop's own currency, time zone and locale, read from the shop, and a tenant that disagrees said out loud.

A tenant file that leaves ``currency`` out gets EUR, ``timezone`` UTC and
``locale`` en_US: a USD shop then has every contact's ``total_spent`` at
0.00 without a word, and PrestaShop's local dates read in the wrong zone.
Each connector that can reads its shop's settings (``shop_settings``):
WooCommerce's general settings and WordPress's REST index, PrestaShop's
configuration (``PS_CURRENCY_DEFAULT``, ``PS_TIMEZONE``, ``PS_LANG_DEFAULT``),
Magento's ``store/storeConfigs``. ``check_settings`` compares them with the
tenant and returns one line per difference, saying what to set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from connectors.errors import ConnectorError
from core import normalize
from core.tenants import TenantConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShopSettings:
    """What the shop says (None: the shop does not say, or could not be asked)."""

    currency: str | None = None
    timezone: str | None = None
    locale: str | None = None

    @classmethod
    def parsed(cls, currency: Any = None, timezone: Any = None, locale: Any = None) -> ShopSettings:
        """Normalised values; one the shop sends in a shape Relance cannot use is left out (None)."""
        return cls(
            currency=_or_none(normalize.currency, currency),
            timezone=_or_none(normalize.timezone, timezone),
            locale=_or_none(normalize.locale, locale),
        )


def _or_none(parse: Any, value: Any) -> str | None:
    if value in (None, ""):
        return None
    try:
        return parse(str(value).replace("-", "_") if parse is normalize.locale else value)
    except ValueError:
        return None


def differences(config: TenantConfig, shop: ShopSettings) -> list[str]:
    """One line per setting the tenant has otherwise than the shop, saying what to set."""
    lines = []
    for key, hint in (
        ("currency", "orders in another currency are left out of totals spent"),
        ("timezone", "times the shop writes without an offset are read in the tenant's zone"),
        ("locale", "customers without a language of their own get the tenant's"),
    ):
        theirs, ours = getattr(shop, key), getattr(config, key)
        if theirs is not None and theirs != ours:
            lines.append(
                f"tenant {config.name}: the shop's {key} is {theirs} but the tenant's is {ours} (the default when "
                f"the tenant file leaves it out; {hint}); set {key}: {theirs} in the tenant file and apply it"
            )
    return lines


def check_settings(connector: Any, config: TenantConfig) -> list[str]:
    """Read the shop's settings and return (and log at WARNING) what the tenant has otherwise.

    A connector without ``shop_settings``, or a shop that cannot be asked, gives no line (logged at INFO).
    """
    read = getattr(connector, "shop_settings", None)
    if read is None:
        return []
    try:
        shop = read()
    except ConnectorError as exc:
        log.info("tenant %s: could not read the shop's currency, time zone and locale: %s", config.name, exc)
        return []
    lines = differences(config, shop)
    for line in lines:
        log.warning("%s", line)
    return lines
