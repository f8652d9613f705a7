"""The ``webhook`` flow step: what is posted, how it is signed, and the retry schedule.

The engine writes one ``flow_webhooks`` row per run and step in the run's
transaction (``core.flows.store.hooks``); ``deliver_due`` posts the due ones
through an HTTP sender it is handed (``jobs.hooks`` hands it ``requests``):
core does no I/O of its own. A delivery is signed like the requests Relance
accepts (``webhooks.signing``: ``X-Relance-Signature: t=<unix>,v1=<hex
HMAC-SHA256 of "t." + body>``, keyed with the tenant's ``webhook_secret``), so
the receiving end verifies it with the same few lines. A 2xx answer is a
delivery; a 408, 429, 5xx or a network error is retried after growing delays;
any other answer, or ``MAX_ATTEMPTS`` tries, fails the row for good. A row is
claimed before it is posted, so two workers never post one twice at once; a
receiver must still use ``X-Relance-Delivery`` to ignore a redelivery after a
lost answer (at least once, never lost).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from core.flows.store import hooks as store
from core.store.tenants import get_tenant_by_id

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Relance-Signature"
DELIVERY_HEADER = "X-Relance-Delivery"
#: Delays before the 2nd, 3rd... try; after the last, the delivery has failed.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
RETRIABLE = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Answer:
    """What the receiving end said: an HTTP status, or ``error`` when no answer came (status 0)."""

    status: int
    error: str | None = None


#: (url, body, headers) -> Answer. Must not raise for HTTP or network failures.
Sender = Callable[[str, bytes, Mapping[str, str]], Answer]


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """The ``X-Relance-Signature`` value for ``body`` (the scheme ``webhooks.signing.verify_relance`` checks)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The JSON body posted for a payload (compact, keys sorted: the bytes that are signed)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str).encode()


def headers_for(body: bytes, secret: str | None, delivery_id: int, now: datetime) -> dict[str, str]:
    """Content type, delivery id and, when the tenant has a ``webhook_secret``, the signature."""
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: str(delivery_id), "User-Agent": "Relance"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret, int(now.timestamp()))
    return headers


def outcome(answer: Answer, attempts: int, now: datetime) -> tuple[str, datetime | None, str | None]:
    """(status, next try, error) after the ``attempts``-th try answered ``answer``."""
    if 200 <= answer.status < 300:
        return store.DELIVERED, None, None
    error = answer.error or f"HTTP {answer.status}"
    retriable = answer.status == 0 or answer.status >= 500 or answer.status in RETRIABLE
    if retriable and attempts < MAX_ATTEMPTS:
        return store.PENDING, now + RETRY_DELAYS[attempts - 1], error
    return store.FAILED, None, error


def deliver_due(engine: Engine, send: Sender, now: datetime, limit: int = 100) -> dict[str, int]:
    """Post the webhook calls due at ``now`` (every tenant's); return how many were delivered, retried, failed.

    Each row is claimed in its own transaction before it is posted, and settled after.
    """
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    with engine.begin() as conn:
        claimed = store.claim_due(conn, now, limit)
    secrets: dict[int, str | None] = {}
    for row in claimed:
        if row.tenant_id not in secrets:
            with engine.connect() as conn:
                secrets[row.tenant_id] = get_tenant_by_id(conn, row.tenant_id).config.webhook_secret
        body = body_of(row.payload)
        answer = send(row.url, body, headers_for(body, secrets[row.tenant_id], row.id, now))
        status, next_at, error = outcome(answer, row.attempts, now)
        if status == store.FAILED:
            log.warning("tenant %s: webhook %s of flow %s failed for good: %s", row.tenant_id, row.id, row.flow, error)
        with engine.begin() as conn:
            store.settle(conn, row.id, status, next_at, error, now)
        counts["delivered" if status == store.DELIVERED else "retried" if status == store.PENDING else "failed"] += 1
    return counts
