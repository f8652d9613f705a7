"""What every receiving endpoint does: find the tenant, read and check the body, store it, enqueue it.

The order is fixed: the tenant (404), the body (413), the endpoint's own
checks (signature 401, JSON 400, ...), then the delivery is written and
committed, and only then the answer is a 2xx. Handing the stored delivery's
id over to the workers (``runtime().hand_over``, which the composition root
wires to the processing job) is best effort: with Redis down the delivery
stays pending and the sweeper enqueues it later. With the database down the
answer is 503, so the sender retries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import DatabaseUnavailableError, RelanceError, SignatureError
from core.store.schema import tenants
from core.tenants import NAME_RE
from inbound import metrics
from inbound.deliveries import store_delivery
from inbound.errors import BadPayloadError
from webhooks.context import MAX_BODY_BYTES, app_redis, redis_failed, runtime
from webhooks.errors import (
    REFUSALS,
    ForbiddenOriginError,
    PayloadTooLargeError,
    UnknownTenantError,
    status_of,
)

log = logging.getLogger(__name__)

_OUTCOMES: dict[type[Exception], str] = {
    SignatureError: "unauthorized",
    BadPayloadError: "bad_request",
    PayloadTooLargeError: "too_large",
    UnknownTenantError: "unknown_tenant",
    ForbiddenOriginError: "forbidden",
}


@dataclass(frozen=True)
class Verdict:
    """What an endpoint decided about a request that passed its checks.

    ``topic`` set means "store it under this topic and enqueue it"; None means
    answer without storing (a ping, an ignored topic). ``respond`` builds the
    answer from the stored delivery id (None when not stored).
    """

    outcome: str
    respond: Callable[[int | None], Response | tuple[Any, int]]
    topic: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


_FIND_TENANT = select(tenants.c.id, tenants.c.config).where(tenants.c.name == bindparam("name"))


@dataclass(frozen=True)
class Recipient:
    """What the intake needs of the tenant a request is for (read straight from its stored, validated settings)."""

    id: int
    name: str
    platform: str
    webhook_secret: str | None
    tracker: Mapping[str, Any]


Inspect = Callable[[Recipient, bytes], Verdict]


def find_tenant(conn: Any, name: str) -> Recipient:
    """The tenant named in the URL; raise UnknownTenantError (404).

    The settings were validated when the tenant was saved; only the keys the
    intake needs are read, so that a request does not pay for a validation.
    """
    if not NAME_RE.match(name):
        raise UnknownTenantError(f"no tenant named {name[:63]!r}; check the URL")
    row = conn.execute(_FIND_TENANT, {"name": name}).first()
    if row is None:
        raise UnknownTenantError(f"no tenant named {name!r}; check the URL")
    config = row.config or {}
    return Recipient(
        id=row.id,
        name=name,
        platform=config.get("platform") or "",
        webhook_secret=config.get("webhook_secret") or None,
        tracker=config.get("tracker") or {},
    )


def read_body() -> bytes:
    """The raw body, read once; raise PayloadTooLargeError over MAX_BODY_BYTES."""
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLargeError(
            f"the body is larger than {MAX_BODY_BYTES // 1024} KB; send smaller batches"
        ) from None
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"the body is larger than {MAX_BODY_BYTES // 1024} KB; send smaller batches")
    return body


def receive(source: str, tenant_name: str, inspect: Inspect) -> Response | tuple[Any, int]:
    """Run the intake for one request and return the answer (raising one of ``REFUSALS`` for refusals)."""
    rt = runtime()
    label = ""
    delivery_id: int | None = None
    try:
        # Autocommit: the INSERT is durable when it returns, without BEGIN/COMMIT round trips.
        with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            tenant = find_tenant(conn, tenant_name)
            label = tenant.name
            verdict = inspect(tenant, read_body())
            if verdict.topic is not None:
                delivery_id = store_delivery(
                    conn, tenant.id, source, verdict.topic, verdict.headers, request.get_data(), rt.clock()
                )
    except REFUSALS as exc:
        metrics.count_request(app_redis(), label, source, _OUTCOMES.get(type(exc), "bad_request"))
        log.info("tenant %s: %s request refused (%d): %s", label or "?", source, status_of(exc), exc)
        raise
    except (DBAPIError, DatabaseUnavailableError):
        metrics.count_request(app_redis(), label, source, "unavailable")
        raise
    _hand_over_and_count(delivery_id, label, source, verdict.outcome)
    return verdict.respond(delivery_id)


def _hand_over_and_count(delivery_id: int | None, tenant: str, source: str, outcome: str) -> None:
    """Hand the stored delivery over and count the request, in one Redis round trip; never raise."""
    redis = app_redis()
    if redis is None:
        if delivery_id is not None:
            log.warning("tenant %s: delivery %d stored; Redis is down, the sweeper will queue it", tenant, delivery_id)
        return
    try:
        pipe = redis.pipeline()
        if delivery_id is not None:
            runtime().hand_over(redis, pipe, delivery_id)
        metrics.count_request(pipe, tenant, source, outcome)
        pipe.execute()
    except (RedisError, OSError, RelanceError) as exc:
        redis_failed(exc)
        if delivery_id is not None:
            log.warning("tenant %s: delivery %d stored; Redis is down, the sweeper will queue it", tenant, delivery_id)


def json_answer(status: int = 200, **body: Any) -> Callable[[int | None], tuple[Any, int]]:
    """A ``respond`` for Verdict: a JSON body with the delivery id when there is one."""

    def respond(delivery_id: int | None) -> tuple[Any, int]:
        payload = dict(body)
        if delivery_id is not None:
            payload["delivery"] = delivery_id
        return jsonify(payload), status

    return respond
