"""Signatures: WooCommerce's scheme exactly, and Relance's own with its replay window."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import SignatureError
from webhooks.signing import (
    sign_relance,
    sign_woocommerce,
    verify_relance,
    verify_woocommerce,
    wp_specialchars_decode,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BODY = b'{"id":727,"permalink":"https:\\/\\/shop.example.com\\/p\\/","name":"Th\\u00e9"}'


def test_woocommerce_signature_is_base64_of_the_raw_hmac_sha256():
    # base64_encode(hash_hmac('sha256', $body, $secret, true)), computed independently here.
    expected = base64.b64encode(hmac.new(b"s3cret", BODY, hashlib.sha256).digest()).decode()
    assert sign_woocommerce(BODY, "s3cret") == expected
    verify_woocommerce(BODY, expected, "s3cret")


def test_woocommerce_decodes_html_entities_in_the_secret_like_wordpress():
    assert wp_specialchars_decode("a&amp;b&lt;&#039;&#x27;&quot;&#38;") == "a&b<''\"&"
    assert wp_specialchars_decode("&amp;lt;") == "&lt;"  # one pass, like strtr
    header = base64.b64encode(hmac.new(b"a&b", BODY, hashlib.sha256).digest()).decode()
    verify_woocommerce(BODY, header, "a&amp;b")


@pytest.mark.parametrize(
    "body, header, secret",
    [
        (BODY, None, "s3cret"),
        (BODY, "", "s3cret"),
        (BODY, sign_woocommerce(BODY, "other"), "s3cret"),
        (BODY + b" ", sign_woocommerce(BODY, "s3cret"), "s3cret"),
        (BODY, sign_woocommerce(BODY, "s3cret"), None),
        (BODY, "not base64 at all ✓", "s3cret"),
    ],
)
def test_woocommerce_refuses_anything_else(body, header, secret):
    with pytest.raises(SignatureError):
        verify_woocommerce(body, header, secret)


def test_relance_signature_round_trip_and_php_equivalent():
    header = sign_relance(BODY, "k3y", 1795000000)
    # PHP: hash_hmac('sha256', $t . '.' . $body, $secret)
    digest = hmac.new(b"k3y", b"1795000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1795000000,v1={digest}"
    verify_relance(BODY, header, "k3y", datetime.fromtimestamp(1795000000 + 60, UTC))


@pytest.mark.parametrize(
    "header, reason",
    [
        (None, "missing"),
        ("v1=abc", "no t="),
        ("t=1795000000", "no v1="),
        ("t=soon,v1=abc", "no t="),
        (f"t={int(NOW.timestamp())},v1=" + "0" * 64, "does not match"),
    ],
)
def test_relance_refuses_malformed_or_wrong_headers(header, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_relance(BODY, header, "k3y", NOW)


def test_relance_refuses_an_old_or_future_timestamp():
    old = int((NOW - timedelta(minutes=6)).timestamp())
    future = int((NOW + timedelta(minutes=6)).timestamp())
    for timestamp in (old, future):
        with pytest.raises(SignatureError, match="away from our clock"):
            verify_relance(BODY, sign_relance(BODY, "k3y", timestamp), "k3y", NOW)
    verify_relance(BODY, sign_relance(BODY, "k3y", int(NOW.timestamp()) - 299), "k3y", NOW)


def test_relance_accepts_one_of_several_signatures_during_a_secret_rotation():
    t = int(NOW.timestamp())
    new = sign_relance(BODY, "new-key", t).split("v1=")[1]
    old = sign_relance(BODY, "old-key", t).split("v1=")[1]
    verify_relance(BODY, f"t={t},v1={old},v1={new}", "new-key", NOW)
