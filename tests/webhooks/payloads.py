"""WooCommerce webhook bodies shaped exactly like WooCommerce's (REST v3 resources), and how WooCommerce sends them."""

from __future__ import annotations

import copy
import json
from typing import Any

from webhooks.signing import sign_woocommerce

SHOP = "https://shop.example.com"

ORDER: dict[str, Any] = {
    "id": 727,
    "parent_id": 0,
    "status": "processing",
    "currency": "EUR",
    "version": "10.0.2",
    "prices_include_tax": False,
    "date_created": "2026-11-20T15:31:05",
    "date_created_gmt": "2026-11-20T14:31:05",
    "date_modified": "2026-11-20T15:33:10",
    "date_modified_gmt": "2026-11-20T14:33:10",
    "discount_total": "0.00",
    "discount_tax": "0.00",
    "shipping_total": "10.00",
    "shipping_tax": "2.00",
    "cart_tax": "5.80",
    "total": "66.60",
    "total_tax": "7.80",
    "customer_id": 12,
    "order_key": "wc_order_2d7Gk2pQ9",
    "billing": {
        "first_name": "Zoé",
        "last_name": "Ångström",
        "company": "",
        "address_1": "12 rue de la République",
        "address_2": "",
        "city": "Lyon",
        "state": "",
        "postcode": "69002",
        "country": "FR",
        "email": "Zoe.Angstrom@Example.FR",
        "phone": "06 12 34 56 78",
    },
    "shipping": {
        "first_name": "Zoé",
        "last_name": "Ångström",
        "company": "",
        "address_1": "12 rue de la République",
        "address_2": "",
        "city": "Lyon",
        "state": "",
        "postcode": "69002",
        "country": "FR",
        "phone": "",
    },
    "payment_method": "bacs",
    "payment_method_title": "Direct bank transfer",
    "transaction_id": "",
    "customer_ip_address": "203.0.113.7",
    "customer_user_agent": "Mozilla/5.0",
    "created_via": "checkout",
    "customer_note": "",
    "date_completed": None,
    "date_paid": "2026-11-20T15:33:10",
    "cart_hash": "d4d3c0d1b7f4",
    "number": "727",
    "meta_data": [{"id": 9001, "key": "_reduced_stock", "value": "yes"}],
    "line_items": [
        {
            "id": 315,
            "name": "Woo Single #1",
            "product_id": 93,
            "variation_id": 0,
            "quantity": 2,
            "tax_class": "",
            "subtotal": "29.00",
            "subtotal_tax": "5.80",
            "total": "29.00",
            "total_tax": "5.80",
            "taxes": [{"id": 75, "total": "5.8", "subtotal": "5.8"}],
            "meta_data": [],
            "sku": "WS-1",
            "price": 14.5,
            "image": {"id": 0, "src": ""},
            "parent_name": None,
        },
        {
            "id": 316,
            "name": "Ship Your Idea – Black, L",
            "product_id": 22,
            "variation_id": 23,
            "quantity": 1,
            "tax_class": "",
            "subtotal": "19.80",
            "subtotal_tax": "0.00",
            "total": "19.80",
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [
                {"id": 2095, "key": "pa_color", "value": "black", "display_key": "Color", "display_value": "Black"}
            ],
            "sku": "SYI-B-L",
            "price": 19.8,
            "image": {"id": "", "src": f"{SHOP}/wp-content/uploads/syi.jpg"},
            "parent_name": "Ship Your Idea",
        },
    ],
    "tax_lines": [],
    "shipping_lines": [
        {
            "id": 317,
            "method_title": "Flat Rate",
            "method_id": "flat_rate",
            "total": "10.00",
            "total_tax": "2.00",
            "taxes": [],
            "meta_data": [],
        }
    ],
    "fee_lines": [],
    "coupon_lines": [],
    "refunds": [],
    "payment_url": f"{SHOP}/checkout/order-pay/727/?pay_for_order=true&key=wc_order_2d7Gk2pQ9",
    "is_editable": False,
    "needs_payment": False,
    "needs_processing": True,
    "date_paid_gmt": "2026-11-20T14:33:10",
    "date_completed_gmt": None,
    "_links": {
        "self": [{"href": f"{SHOP}/wp-json/wc/v3/orders/727"}],
        "collection": [{"href": f"{SHOP}/wp-json/wc/v3/orders"}],
    },
}

CUSTOMER: dict[str, Any] = {
    "id": 12,
    "date_created": "2026-03-02T10:00:00",
    "date_created_gmt": "2026-03-02T09:00:00",
    "date_modified": "2026-11-20T15:40:00",
    "date_modified_gmt": "2026-11-20T14:40:00",
    "email": "Zoe.Angstrom@Example.FR",
    "first_name": "Zoé",
    "last_name": "Ångström",
    "role": "customer",
    "username": "zoe.angstrom",
    "billing": ORDER["billing"],
    "shipping": ORDER["shipping"],
    "is_paying_customer": True,
    "avatar_url": "https://secure.gravatar.com/avatar/0?s=96&d=mm&r=g",
    "meta_data": [{"id": 301, "key": "default_password_nag", "value": ""}],
    "_links": {"self": [{"href": f"{SHOP}/wp-json/wc/v3/customers/12"}]},
}

PRODUCT: dict[str, Any] = {
    "id": 93,
    "name": "Woo Single #1",
    "slug": "woo-single-1",
    "permalink": f"{SHOP}/product/woo-single-1/",
    "date_created": "2026-01-10T10:00:00",
    "date_created_gmt": "2026-01-10T09:00:00",
    "date_modified": "2026-11-19T10:00:00",
    "date_modified_gmt": "2026-11-19T09:00:00",
    "type": "simple",
    "status": "publish",
    "featured": False,
    "catalog_visibility": "visible",
    "description": "<p>A tea &amp; coffee sampler.</p>",
    "short_description": "",
    "sku": "WS-1",
    "price": "14.50",
    "regular_price": "14.50",
    "sale_price": "",
    "on_sale": False,
    "purchasable": True,
    "total_sales": 12,
    "stock_status": "instock",
    "categories": [{"id": 9, "name": "Tea &amp; Coffee", "slug": "tea-coffee"}],
    "tags": [],
    "brands": [{"id": 48, "name": "Maison", "slug": "maison"}],
    "images": [{"id": 40, "src": f"{SHOP}/wp-content/uploads/ws1.jpg", "name": "ws1.jpg", "alt": ""}],
    "attributes": [],
    "variations": [],
    "related_ids": [22],
    "upsell_ids": [],
    "cross_sell_ids": [22],
    "parent_id": 0,
    "meta_data": [],
}


def wp_json(payload: Any) -> bytes:
    """``trim(wp_json_encode($payload))``: ASCII only (\\uXXXX) and escaped slashes, as WooCommerce sends it."""
    return json.dumps(payload, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/").encode("ascii")


def order(**changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(ORDER)
    out.update(changes)
    return out


def delivery_headers(
    topic: str, body: bytes, secret: str, delivery_id: str = "a1b2c3d4e5f6", resource_id: int = 727
) -> dict[str, str]:
    """The headers WooCommerce's ``WC_Webhook::deliver()`` sends with a delivery."""
    resource, event = topic.split(".", 1)
    return {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/10.0.2 Hookshot (WordPress/6.8.8)",
        "X-WC-Webhook-Source": f"{SHOP}/",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign_woocommerce(body, secret),
        "X-WC-Webhook-ID": "4",
        "X-WC-Webhook-Delivery-ID": delivery_id,
    }
