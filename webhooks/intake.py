"""What every receiving endpoint does: find the tenant, read and check the body, store it, hand it over.

The order is fixed: the tenant (404), the body (413), the endpoint's own
checks (signature 401, JSON 400, rate 429, ...), then the delivery is
written and committed, and only then the answer is a 2xx. Handing the stored
delivery's id over to the workers (``runtime().hand_over``, which the
composition root wires to the drain jobs) is best effort: with Redis down
the delivery stays pending and the sweeper enqueues it later. With the
database down the answer is 503, so the sender retries.

Round trips before the answer, on the hot path: one INSERT (autocommit) and
one Redis pipeline (the request counter and the hand-over). The tenant's
settings are cached in the process for ``TENANT_CACHE_SECONDS``; a request
refused with cached settings (signature, key, origin) is checked once more
against freshly read ones, so a new secret or origin works at once and a
revoked one stops within that time. On PostgreSQL each thread keeps its
own connection with both statements prepared (``webhooks.database``,
``webhooks.pgintake``); no pre-ping: a connection found dead is replaced
and the request retried once.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

import orjson
from flask import Flask, Response, current_app, request
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import RequestEntityTooLarge

from core.errors import DatabaseUnavailableError, RelanceError, SignatureError
from core.secrets import unseal_value
from core.tenants import NAME_RE
from inbound import metrics
from inbound.errors import BadPayloadError
from webhooks.context import MAX_BODY_BYTES, app_redis, redis_failed, runtime
from webhooks.database import IntakeDatabase, with_database
from webhooks.errors import (
    REFUSALS,
    ForbiddenOriginError,
    LimiterUnavailableError,
    PayloadTooLargeError,
    RateLimitedError,
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
    RateLimitedError: "rate_limited",
    LimiterUnavailableError: "unavailable",
}
#: Refusals that settings read from the cache may have caused (a secret, key or origin just changed).
_STALE_SUSPECTS = (SignatureError, ForbiddenOriginError, UnknownTenantError)
#: How long (seconds) a tenant's settings are used from the process's cache before being read again.
TENANT_CACHE_SECONDS = 5.0
#: Tenants kept in a process's cache at most (the least recently read are dropped first).
TENANT_CACHE_SIZE = 1024
#: Deepest JSON accepted (arrays and objects inside each other); deeper is refused with 400.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_JSON_NESTING = re.compile(rb"[\[\]{}]")


@dataclass(frozen=True)
class Verdict:
    """What an endpoint decided about a request that passed its checks.

    ``topic`` set means "store it under this topic and enqueue it"; None means
    answer without storing (a ping, an ignored topic). ``respond`` builds the
    answer from the stored delivery id (None when not stored).
    """

    outcome: str
    respond: Callable[[int | None], JsonAnswer | Response | tuple[Any, int]]
    topic: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recipient:
    """What the intake needs of the tenant a request is for (read straight from its stored, validated settings)."""

    id: int
    name: str
    platform: str
    webhook_secret: str | None
    tracker: Mapping[str, Any]


Inspect = Callable[[Recipient, bytes], Verdict]


def find_tenant(db: IntakeDatabase, name: str) -> Recipient:
    """The tenant named in the URL, read from the database; raise UnknownTenantError (404).

    The settings were validated when the tenant was saved; only the keys the
    intake needs are read, so that a request does not pay for a validation.
    """
    if not NAME_RE.match(name):
        raise UnknownTenantError(f"no tenant named {name[:63]!r}; check the URL")
    found = db.tenant_settings(name)
    if found is None:
        raise UnknownTenantError(f"no tenant named {name!r}; check the URL")
    tenant_id, config = found
    return Recipient(
        id=tenant_id,
        name=name,
        platform=config.get("platform") or "",
        webhook_secret=unseal_value(config.get("webhook_secret"), db.keyring) or None,
        tracker=config.get("tracker") or {},
    )


class TenantCache:
    """The tenants' intake settings read in the last ``TENANT_CACHE_SECONDS``, per process (one per app).

    Unknown names are not cached (each is read again), so a new tenant is
    known at once; a changed tenant is seen within ``ttl`` seconds.
    """

    def __init__(self, ttl: float = TENANT_CACHE_SECONDS, size: int = TENANT_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[str, tuple[float, Recipient]] = {}
        self._lock = threading.Lock()

    def get(self, db: IntakeDatabase, name: str, fresh: bool = False) -> tuple[Recipient, bool]:
        """The tenant called ``name`` and whether it came from the cache; raise UnknownTenantError."""
        now = time.monotonic()
        entry = None if fresh else self._entries.get(name)
        if entry is not None and entry[0] > now:
            return entry[1], True
        tenant = find_tenant(db, name)
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries.pop(name, None)
            self._entries[name] = (now + self.ttl, tenant)
        return tenant, False


def tenant_cache(app: Flask | None = None) -> TenantCache:
    """The tenant cache of ``app`` (by default the current app)."""
    extensions = (app or current_app).extensions
    cache = extensions.get("relance.tenants")
    if cache is None:
        cache = extensions.setdefault("relance.tenants", TenantCache())
    return cache


def cached_tenant(name: str) -> Recipient:
    """The tenant called ``name`` from the app's cache, read on a miss; raise UnknownTenantError (404)."""
    return with_database(lambda db: tenant_cache().get(db, name)[0])


def parse_json(body: bytes) -> Any:
    """The JSON value of ``body``; raise BadPayloadError when it is not JSON or nests deeper than MAX_JSON_DEPTH.

    Depth is checked before parsing (strings taken out first), so that a body
    of a thousand ``[`` is a 400, never a RecursionError.
    """
    _check_depth(body)
    try:
        return json.loads(body)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise BadPayloadError(f"the JSON nests too deep; at most {MAX_JSON_DEPTH} levels are accepted") from None
    except ValueError as exc:
        raise BadPayloadError(f"the body is not valid JSON: {exc}") from None


def json_shape(body: bytes) -> Any:
    """``parse_json(body)`` for a check of its shape only (is it an object?): parsed by orjson, three times faster.

    What orjson refuses (NaN, UTF-16, a byte order mark, lone surrogates) is
    parsed by ``parse_json``, so the same bodies are accepted and refused,
    with the same message. The values may differ where the shape does not:
    orjson reads an integer past 64 bits as a float.
    """
    _check_depth(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return parse_json(body)


def _check_depth(body: bytes) -> None:
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        nesting = _JSON_NESTING.findall(_JSON_STRING.sub(b"", body))
        depth = max(accumulate(1 if mark in b"[{" else -1 for mark in nesting), default=0)
        if depth > MAX_JSON_DEPTH:
            raise BadPayloadError(
                f"the JSON nests {depth} levels deep; at most {MAX_JSON_DEPTH} are accepted, send a flatter body"
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


def read_body_at_most(limit: int) -> bytes:
    """The raw body (``read_body``), refused with PayloadTooLargeError over ``limit`` bytes as well."""
    body = read_body()
    if len(body) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit // 1024} KB; send smaller batches")
    return body


@dataclass
class Receipt:
    """What the intake learnt of a request while deciding: the tenant's name (for metrics and logs)."""

    tenant: str = ""


def decide_and_store(
    app: Flask,
    source: str,
    tenant_name: str,
    read: Callable[[], bytes],
    inspect: Inspect,
    receipt: Receipt,
) -> tuple[Verdict, int | None]:
    """The tenant (404), the body (``read``: 413), ``inspect``'s checks, then the delivery stored (autocommit).

    Returns the verdict and the stored delivery's id (None when nothing is
    stored); raises one of ``REFUSALS``, or DBAPIError/DatabaseUnavailableError
    with the database down, having counted and logged nothing (``refused`` and
    ``unavailable`` do). The Flask view (``receive``) and the WSGI fast path
    (``webhooks.fastpath``) both call it.
    """
    rt = runtime(app)
    cache = tenant_cache(app)

    def store(db: IntakeDatabase) -> tuple[Verdict, int | None]:
        tenant, cached = cache.get(db, tenant_name)
        receipt.tenant = tenant.name
        body = read()
        try:
            verdict = inspect(tenant, body)
        except _STALE_SUSPECTS:
            if not cached:
                raise
            tenant, _ = cache.get(db, tenant_name, fresh=True)  # the settings may have just changed
            verdict = inspect(tenant, body)
        if verdict.topic is None:
            return verdict, None
        return verdict, db.store_delivery(tenant.id, source, verdict.topic, verdict.headers, body, rt.clock())

    return with_database(store, app)


def refused(app: Flask, receipt: Receipt, source: str, exc: Exception) -> None:
    """Count and log a refusal (one of ``REFUSALS``) of ``decide_and_store``."""
    metrics.count_request(app_redis(app), receipt.tenant, source, _OUTCOMES.get(type(exc), "bad_request"))
    log.info("tenant %s: %s request refused (%d): %s", receipt.tenant or "?", source, status_of(exc), exc)


def unavailable(app: Flask, receipt: Receipt, source: str) -> None:
    """Count a request the database being down refused (the answer is ``database_down``'s)."""
    metrics.count_request(app_redis(app), receipt.tenant, source, "unavailable")


def database_down(exc: Exception) -> JsonAnswer:
    """Log that the database is unavailable (never the error's text: it may quote values); the 503 to answer."""
    log.error("database unavailable: %s", type(exc).__name__)
    return JsonAnswer(503, _json_text({"error": "the database is unavailable; retry later"}), (("Retry-After", "30"),))


def hand_over_and_answer(
    app: Flask, receipt: Receipt, source: str, verdict: Verdict, delivery_id: int | None
) -> JsonAnswer | Response | tuple[Any, int]:
    """Hand the stored delivery over (best effort), count the request, and build the answer."""
    _hand_over_and_count(app, delivery_id, receipt.tenant, source, verdict.outcome)
    return verdict.respond(delivery_id)


def receive(source: str, tenant_name: str, inspect: Inspect) -> Response | tuple[Any, int]:
    """Run the intake for one request and return the answer (raising one of ``REFUSALS`` for refusals)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    receipt = Receipt()
    try:
        verdict, delivery_id = decide_and_store(app, source, tenant_name, read_body, inspect, receipt)
    except REFUSALS as exc:
        refused(app, receipt, source, exc)
        raise
    except (DBAPIError, DatabaseUnavailableError):
        unavailable(app, receipt, source)
        raise
    return to_response(app, hand_over_and_answer(app, receipt, source, verdict, delivery_id))


def _hand_over_and_count(app: Flask, delivery_id: int | None, tenant: str, source: str, outcome: str) -> None:
    """Hand the stored delivery over and count the request, in one Redis round trip; never raise."""
    redis = app_redis(app)
    if redis is None:
        if delivery_id is not None:
            log.warning("tenant %s: delivery %d stored; Redis is down, the sweeper will queue it", tenant, delivery_id)
        return

    try:
        if delivery_id is None:
            metrics.count_request(redis, tenant, source, outcome)
        else:
            runtime(app).hand_over(redis, delivery_id, metrics.request_counter(tenant, source, outcome))
    except (RedisError, OSError, RelanceError) as exc:
        redis_failed(exc, app)
        if delivery_id is not None:
            log.warning("tenant %s: delivery %d stored; Redis is down, the sweeper will queue it", tenant, delivery_id)


@dataclass(frozen=True)
class JsonAnswer:
    """An answer with a JSON body, built without Flask (the fast path writes it as is; ``to_response`` for Flask)."""

    status: int
    text: str
    headers: tuple[tuple[str, str], ...] = ()


def to_response(app: Flask, answer: Any) -> Any:
    """``answer`` as Flask returns it: a JsonAnswer becomes the app's response; anything else is returned as is."""
    if not isinstance(answer, JsonAnswer):
        return answer
    response = app.response_class(answer.text, status=answer.status, mimetype="application/json")
    for name, value in answer.headers:
        response.headers[name] = value
    return response


def _json_text(payload: Mapping[str, Any]) -> str:
    """What jsonify writes (compact, keys sorted, a final newline), without its wrappers."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True) + "\n"


def json_answer(status: int = 200, **body: Any) -> Callable[[int | None], JsonAnswer]:
    """A ``respond`` for Verdict: a JSON body with the delivery id when there is one."""

    def respond(delivery_id: int | None) -> JsonAnswer:
        payload = dict(body)
        if delivery_id is not None:
            payload["delivery"] = delivery_id
        return JsonAnswer(status, _json_text(payload))

    return respond
