"""``POST /events/<tenant>``: Event API v1 events from shop modules, server to server.

The body is one event object or a JSON array of up to ``MAX_BATCH`` events,
signed with ``X-Relance-Signature`` (see ``webhooks.signing``). Every event is
validated before anything is stored (``inbound.events_api``): one bad event refuses the request with
400 naming it (``events[3].contact.email: not an email address``), so a
module author sees the mistake at once. Accepted batches answer 202 with the
number of events; they are ingested by a worker, idempotently on each
``message_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Blueprint, request

from inbound.events_api import SOURCE, check_events
from webhooks.context import runtime
from webhooks.intake import Recipient, Verdict, json_answer, parse_json, receive
from webhooks.signing import RELANCE_HEADER, verify_relance

bp = Blueprint("events", __name__)

KEPT_HEADERS = ("User-Agent", "Content-Type")


_KEPT_ENVIRON = tuple(
    (name, "CONTENT_TYPE" if name == "Content-Type" else "HTTP_" + name.upper().replace("-", "_"))
    for name in KEPT_HEADERS
)
_SIGNATURE_ENVIRON = "HTTP_" + RELANCE_HEADER.upper().replace("-", "_")
#: The route (the WSGI fast path, ``webhooks.fastpath``, serves the same path).
ROUTE = "/events/<tenant_name>"


def inspect_events(tenant: Recipient, body: bytes, environ: Mapping[str, Any], now: datetime) -> Verdict:
    """Check a post's signature (headers read from the WSGI ``environ``) and events; what to do with it.

    The Flask view and the WSGI fast path (``webhooks.fastpath``) both call it.
    """
    verify_relance(body, environ.get(_SIGNATURE_ENVIRON), tenant.webhook_secret, now)
    count = check_events(parse_json(body))
    headers = {name: environ[key][:500] for name, key in _KEPT_ENVIRON if key in environ}
    return Verdict(outcome="accepted", respond=json_answer(202, accepted=count), topic=SOURCE, headers=headers)


@bp.post(ROUTE)
def post_events(tenant_name: str) -> Any:
    """Receive one Event API v1 event or a batch."""
    environ = request.environ
    clock = runtime().clock
    return receive(SOURCE, tenant_name, lambda tenant, body: inspect_events(tenant, body, environ, clock()))
