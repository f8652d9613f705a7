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

from typing import Any

from flask import Blueprint, request

from inbound.events_api import SOURCE, check_events
from webhooks.context import runtime
from webhooks.intake import Recipient, Verdict, json_answer, parse_json, receive
from webhooks.signing import RELANCE_HEADER, verify_relance

bp = Blueprint("events", __name__)

KEPT_HEADERS = ("User-Agent", "Content-Type")


def _inspect(tenant: Recipient, body: bytes) -> Verdict:
    verify_relance(body, request.headers.get(RELANCE_HEADER), tenant.webhook_secret, runtime().clock())
    count = check_events(parse_json(body))
    headers = {name: request.headers[name][:500] for name in KEPT_HEADERS if name in request.headers}
    return Verdict(outcome="accepted", respond=json_answer(202, accepted=count), topic=SOURCE, headers=headers)


@bp.post("/events/<tenant_name>")
def post_events(tenant_name: str) -> Any:
    """Receive one Event API v1 event or a batch."""
    return receive(SOURCE, tenant_name, _inspect)
