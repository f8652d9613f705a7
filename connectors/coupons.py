"""Unique coupons created in the shop through its own API (write access needed), one per message.

- WooCommerce: ``POST /wp-json/wc/v3/coupons`` with our code, ``percent`` or
  ``fixed_cart``, ``usage_limit`` 1, ``usage_limit_per_user`` 1,
  ``email_restrictions`` (the contact's email) and ``date_expires``.
- PrestaShop: ``POST /api/cart_rules`` (webservice XML) with our code,
  ``quantity`` 1, ``quantity_per_user`` 1, ``date_from``/``date_to`` and
  ``reduction_percent`` or ``reduction_amount``.
- Magento 2: ``POST /V1/salesRules`` (a cart price rule for this one code:
  ``coupon_type`` specific with ``use_auto_generation``, ``uses_per_coupon``
  1, ``to_date``), then ``POST /V1/coupons/generate`` for one code, which
  Magento makes.

Each function returns the code and the shop's id of what it created, and
raises ConnectorError (ConnectorAuthError for a key without write access)
like every client call.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from connectors.errors import ConnectorError
from connectors.http import HttpClient, decode_json
from core.model import Platform

ALPHABET = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"


@dataclass(frozen=True)
class CouponSpec:
    """What to create: ``percent`` or ``amount`` off, until ``expires_at``, for ``email``."""

    percent: Decimal | None
    amount: Decimal | None
    expires_at: datetime
    starts_at: datetime
    email: str | None
    label: str
    prefix: str = "RL"


@dataclass(frozen=True)
class CreatedCoupon:
    code: str
    shop_ref: str


def new_code(prefix: str = "RL", length: int = 8) -> str:
    """A random code nobody can guess (``RL-7K3QH2MX``), without the look-alike letters O and I."""
    return f"{prefix}-" + "".join(secrets.choice(ALPHABET) for _ in range(length))


def _amount(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def woocommerce(http: HttpClient, spec: CouponSpec) -> CreatedCoupon:
    code = new_code(spec.prefix)
    body: dict[str, Any] = {
        "code": code,
        "discount_type": "percent" if spec.percent is not None else "fixed_cart",
        "amount": _amount(spec.percent if spec.percent is not None else spec.amount or Decimal(0)),
        "individual_use": True,
        "usage_limit": 1,
        "usage_limit_per_user": 1,
        "date_expires_gmt": spec.expires_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "description": spec.label,
    }
    if spec.email:
        body["email_restrictions"] = [spec.email]
    data = decode_json(http.request("POST", "coupons", json=body))
    if not isinstance(data, dict) or not data.get("id"):
        raise ConnectorError(f"tenant {http.tenant}: WooCommerce did not answer a coupon to POST /coupons")
    return CreatedCoupon(str(data.get("code") or code).upper(), str(data["id"]))


def prestashop(http: HttpClient, spec: CouponSpec, language_id: int | None = None) -> CreatedCoupon:
    code = new_code(spec.prefix)
    reduction = (
        f"<reduction_percent>{_amount(spec.percent)}</reduction_percent>"
        if spec.percent is not None
        else f"<reduction_amount>{_amount(spec.amount or Decimal(0))}</reduction_amount><reduction_tax>1</reduction_tax>"
    )
    language = language_id or 1
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><prestashop xmlns:xlink="http://www.w3.org/1999/xlink"><cart_rule>'
        f"<date_from>{spec.starts_at:%Y-%m-%d %H:%M:%S}</date_from><date_to>{spec.expires_at:%Y-%m-%d %H:%M:%S}</date_to>"
        f"<description>{escape(spec.label)}</description><quantity>1</quantity><quantity_per_user>1</quantity_per_user>"
        f"<priority>1</priority><partial_use>0</partial_use><code>{code}</code><active>1</active>{reduction}"
        f'<name><language id="{language}">{escape(spec.label)}</language></name>'
        "</cart_rule></prestashop>"
    )
    response = http.request("POST", "cart_rules", data=xml.encode())
    data = decode_json(response)
    rule = data.get("cart_rule") if isinstance(data, dict) else None
    if not isinstance(rule, dict) or not rule.get("id"):
        raise ConnectorError(f"tenant {http.tenant}: PrestaShop did not answer a cart rule to POST /api/cart_rules")
    return CreatedCoupon(str(rule.get("code") or code), str(rule["id"]))


def magento(http: HttpClient, spec: CouponSpec) -> CreatedCoupon:
    rule = {
        "rule": {
            "name": spec.label,
            "is_active": True,
            "website_ids": [1],
            "customer_group_ids": [0, 1, 2, 3],
            "from_date": spec.starts_at.strftime("%Y-%m-%d"),
            "to_date": spec.expires_at.strftime("%Y-%m-%d"),
            "uses_per_customer": 1,
            "uses_per_coupon": 1,
            "coupon_type": "SPECIFIC_COUPON",
            "use_auto_generation": True,
            "simple_action": "by_percent" if spec.percent is not None else "cart_fixed",
            "discount_amount": float(spec.percent if spec.percent is not None else spec.amount or 0),
            "stop_rules_processing": True,
        }
    }
    created = decode_json(http.request("POST", "salesRules", json=rule))
    rule_id = created.get("rule_id") if isinstance(created, dict) else None
    if not rule_id:
        raise ConnectorError(f"tenant {http.tenant}: Magento did not answer a sales rule to POST /V1/salesRules")
    spec_body = {"couponSpec": {"rule_id": rule_id, "quantity": 1, "length": 10, "format": "alphanum",
                                "prefix": f"{spec.prefix}-"}}  # fmt: skip
    codes = decode_json(http.request("POST", "coupons/generate", json=spec_body))
    if not isinstance(codes, list) or not codes:
        raise ConnectorError(f"tenant {http.tenant}: Magento generated no coupon for sales rule {rule_id}")
    return CreatedCoupon(str(codes[0]), str(rule_id))


def create_coupon(platform: Platform, client: Any, spec: CouponSpec) -> CreatedCoupon:
    """Create one code in the shop with the platform's client (``connector.client``)."""
    if platform is Platform.WOOCOMMERCE:
        return woocommerce(client.http, spec)
    if platform is Platform.PRESTASHOP:
        return prestashop(client.http, spec, getattr(client, "language_id", None))
    return magento(client.http, spec)
