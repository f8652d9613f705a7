"""Request signatures: WooCommerce's, and Relance's own for the Event API.

Every check runs on the raw body bytes, before anything is parsed, and
compares with ``hmac.compare_digest``. ``sign_*`` produce exactly what
``verify_*`` accept, for tests, the demo and module authors.

WooCommerce (``X-WC-Webhook-Signature``): base64 of the binary HMAC-SHA256 of
the body, keyed with the webhook secret after WordPress's
``wp_specialchars_decode`` (``&amp;`` and friends become plain characters).

Relance (``X-Relance-Signature: t=<unix seconds>,v1=<hex>``): the hex
HMAC-SHA256, keyed with the tenant's ``webhook_secret``, of
``"<t>." + body``. The timestamp must be within ``TOLERANCE_SECONDS`` of our
clock, so a captured request cannot be replayed later. In PHP::

    $t = time();
    $sig = hash_hmac('sha256', $t . '.' . $body, $secret);
    $header = "X-Relance-Signature: t=$t,v1=$sig";
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from datetime import datetime

from core.errors import SignatureError

WOOCOMMERCE_HEADER = "X-WC-Webhook-Signature"
RELANCE_HEADER = "X-Relance-Signature"
TOLERANCE_SECONDS = 300

#: The entities ``wp_specialchars_decode($secret, ENT_QUOTES)`` turns back into characters.
_WP_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#0*(60|62|38|34|39)|#[xX]0*(26|22|27));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_CODES = {"60": "<", "62": ">", "38": "&", "34": '"', "39": "'", "26": "&", "22": '"', "27": "'"}


def wp_specialchars_decode(text: str) -> str:
    """WordPress's ``wp_specialchars_decode(text, ENT_QUOTES)``: one pass, like its ``strtr``."""
    return _WP_ENTITY.sub(lambda m: _NAMED[m[1]] if m[1] else _CODES[m[2] or m[3]], text)


@functools.lru_cache(maxsize=1024)
def _woocommerce_mac(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed as WooCommerce keys it, to copy for each body (the key is derived once per secret)."""
    return hmac.new(wp_specialchars_decode(secret).encode(), digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=1024)
def _relance_mac(secret: str) -> hmac.HMAC:
    """An HMAC-SHA256 keyed with ``secret``, to copy for each request."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def sign_woocommerce(body: bytes, secret: str) -> str:
    """The ``X-WC-Webhook-Signature`` WooCommerce sends for ``body``."""
    mac = _woocommerce_mac(secret).copy()
    mac.update(body)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_woocommerce(body: bytes, header: str | None, secret: str | None) -> None:
    """Raise SignatureError unless ``header`` is WooCommerce's signature of ``body`` with ``secret``."""
    if not secret:
        raise SignatureError(
            "this tenant has no webhook_secret; set it in the tenant file and in the WooCommerce webhook"
        )
    if not header:
        raise SignatureError(f"the {WOOCOMMERCE_HEADER} header is missing")
    expected = sign_woocommerce(body, secret)
    if not hmac.compare_digest(expected.encode("ascii"), header.strip().encode("utf-8", "replace")):
        raise SignatureError(f"the {WOOCOMMERCE_HEADER} does not match; check the webhook secret")


def sign_relance(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Relance-Signature`` header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = _relance_mac(secret).copy()
    mac.update(b"%d." % timestamp)
    mac.update(body)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_relance(body: bytes, header: str | None, secret: str | None, now: datetime) -> None:
    """Raise SignatureError unless ``header`` signs ``body`` with ``secret`` within the tolerance of ``now``."""
    if not secret:
        raise SignatureError("this tenant has no webhook_secret; set one in the tenant file and sign with it")
    if not header:
        raise SignatureError(f"the {RELANCE_HEADER} header is missing (t=<unix time>,v1=<hex HMAC-SHA256>)")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value.strip())
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"the {RELANCE_HEADER} header has no t=<unix time>") from None
    signatures = parts.get("v1") or []
    if not signatures:
        raise SignatureError(f"the {RELANCE_HEADER} header has no v1=<hex signature>")
    if abs(now.timestamp() - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            f"the {RELANCE_HEADER} timestamp is more than {TOLERANCE_SECONDS} s away from our clock; "
            "sign with the current time (and check the server's clock)"
        )
    expected = sign_relance(body, secret, timestamp).rpartition("v1=")[2].encode("ascii")
    # Several v1= values are allowed while a secret is being rotated.
    if not any(hmac.compare_digest(expected, sig.encode("utf-8", "replace")) for sig in signatures):
        raise SignatureError(f"the {RELANCE_HEADER} does not match; check the webhook_secret")
