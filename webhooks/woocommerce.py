"""``POST /hooks/<tenant>/woocommerce``: WooCommerce webhook deliveries.

Order of checks: the creation ping is answered 200 (it carries no topic and
no signature; WooCommerce activates the webhook only on a 200); every other
request must carry a valid ``X-WC-Webhook-Signature`` (401) before its body is
even parsed; then the JSON (400); a topic Relance does not process (coupons,
``action.*``) is acknowledged with 200 and dropped; the rest is stored and
queued. Duplicates are not refused here: ``X-WC-Webhook-Delivery-ID`` is not
unique (WooCommerce derives it from the webhook and the current second), so
idempotence is the processing's job, on (resource, id, date_modified_gmt).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, request

from inbound.errors import BadPayloadError
from inbound.woocommerce import SOURCE, TOPICS
from webhooks.intake import Recipient, Verdict, json_answer, json_shape, receive
from webhooks.signing import WOOCOMMERCE_HEADER, verify_woocommerce

log = logging.getLogger(__name__)

bp = Blueprint("woocommerce", __name__)

#: The route (the WSGI fast path, ``webhooks.fastpath``, serves the same path).
ROUTE = "/hooks/<tenant_name>/woocommerce"
PING_RE = re.compile(rb"^webhook_id=\d+$")
TOPIC_HEADER = "X-WC-Webhook-Topic"
#: Headers kept with a stored delivery (what the processing and a person debugging need).
KEPT_HEADERS = (
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Resource",
    "X-WC-Webhook-Event",
    "X-WC-Webhook-ID",
    "X-WC-Webhook-Delivery-ID",
    "X-WC-Webhook-Source",
    "User-Agent",
    "Content-Type",
)


#: The WSGI environ keys of KEPT_HEADERS (read straight from the environ: one dict lookup each).
_KEPT_ENVIRON = tuple(
    (name, "CONTENT_TYPE" if name == "Content-Type" else "HTTP_" + name.upper().replace("-", "_"))
    for name in KEPT_HEADERS
)


_TOPIC_ENVIRON = "HTTP_X_WC_WEBHOOK_TOPIC"
_SIGNATURE_ENVIRON = "HTTP_" + WOOCOMMERCE_HEADER.upper().replace("-", "_")


def _kept_headers(environ: Mapping[str, Any]) -> dict[str, str]:
    return {name: environ[key][:500] for name, key in _KEPT_ENVIRON if key in environ}


def inspect_delivery(tenant: Recipient, body: bytes, environ: Mapping[str, Any]) -> Verdict:
    """Check a delivery's headers (read from the WSGI ``environ``) and body for ``tenant``; what to do with it.

    The Flask view and the WSGI fast path (``webhooks.fastpath``) both call it.
    """
    topic = environ.get(_TOPIC_ENVIRON, "").strip().lower()
    if not topic and PING_RE.match(body.strip()):
        log.info("tenant %s: WooCommerce webhook %s pinged", tenant.name, body.strip()[11:].decode())
        return Verdict(outcome="ping", respond=json_answer(200, ok=True, ping=True))
    verify_woocommerce(body, environ.get(_SIGNATURE_ENVIRON), tenant.webhook_secret)
    payload: Any = json_shape(body)  # only its shape matters here: the processing parses it again
    if not topic:
        raise BadPayloadError(f"the {TOPIC_HEADER} header is missing")
    if topic not in TOPICS:
        log.info("tenant %s: WooCommerce topic %s ignored", tenant.name, topic[:100])
        return Verdict(outcome="ignored", respond=json_answer(200, ok=True, ignored=topic[:100]))
    if not isinstance(payload, dict):
        raise BadPayloadError("the body must be a JSON object (a WooCommerce resource)")
    return Verdict(outcome="accepted", respond=json_answer(200, ok=True), topic=topic, headers=_kept_headers(environ))


@bp.post(ROUTE)
def woocommerce_delivery(tenant_name: str) -> Any:
    """Receive one WooCommerce webhook delivery."""
    environ = request.environ
    return receive(SOURCE, tenant_name, lambda tenant, body: inspect_delivery(tenant, body, environ))
