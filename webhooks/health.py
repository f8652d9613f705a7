"""``GET /healthz`` (database and Redis status) and ``GET /metrics`` (Prometheus).

``/metrics`` asks for ``Authorization: Bearer <RELANCE_METRICS_TOKEN>`` when
the install sets a token (compared in constant time; 401 otherwise), and
names no tenant unless ``RELANCE_METRICS_TENANT_LABELS`` is on: a tenant's
name is a shop's, and an agency's list of them is its client list.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from core.reports.metrics import render_messages
from core.reports.store.outbox import message_counts
from core.store.db import ping
from core.store.tenants import tenant_names
from inbound import metrics
from inbound.deliveries import count_by_state
from webhooks.context import app_redis, redis_failed, runtime

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _database_ok() -> bool:
    try:
        with runtime().engine.connect() as conn:
            ping(conn)
    except DBAPIError:
        return False
    return True


def _redis_ok() -> bool:
    redis = app_redis()
    if redis is None:
        return False
    try:
        redis.ping()
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return False
    return True


@bp.get("/healthz")
def healthz() -> Any:
    """200 while deliveries can be accepted (the database answers), else 503.

    Redis down is "degraded", not down: deliveries are still stored, and
    swept into the queue once Redis is back.
    """
    database, redis = _database_ok(), _redis_ok()
    status = "ok" if database and redis else ("degraded" if database else "down")
    body: dict[str, Any] = {
        "status": status,
        "database": "ok" if database else "down",
        "redis": "ok" if redis else "down",
    }
    workers = _workers() if redis else None
    if workers is not None:
        body["workers"] = {
            "alive": workers["workers"],
            "last_heartbeat_seconds_ago": _round(workers["last_worker_heartbeat_age"]),
            "last_periodic_run_seconds_ago": _round(workers["last_periodic_age"]),
        }
    return jsonify(body), 200 if database else 503


def _workers() -> dict[str, Any] | None:
    """The workers' and periodic jobs' heartbeats (None when Redis does not answer)."""
    redis = app_redis()
    if redis is None:
        return None
    try:
        return runtime().worker_status(redis)
    except (RedisError, OSError) as exc:
        redis_failed(exc)
        return None


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


@bp.get("/metrics")
def prometheus() -> Any:
    """The Prometheus metrics (text exposition format 0.0.4); 401 without the install's metrics token."""
    settings = runtime().settings
    if settings.metrics_token and not _bearer_matches(settings.metrics_token):
        response = jsonify({"error": "this endpoint needs Authorization: Bearer <RELANCE_METRICS_TOKEN>"})
        response.headers["WWW-Authenticate"] = 'Bearer realm="relance metrics"'
        return response, 401
    backlog: dict[tuple[str, str, str], int] = {}
    outbox: dict[tuple[str, str, str, str], int] = {}
    database = True
    try:
        with runtime().engine.connect() as conn:
            for tenant_id, name in tenant_names(conn).items():
                for (source, state), count in count_by_state(conn, tenant_id).items():
                    backlog[(name, source, state)] = count
                for (flow, channel, status), count in message_counts(conn, tenant_id).items():
                    outbox[(name, flow, channel, status)] = count
    except DBAPIError:
        database = False
    redis = app_redis()
    depths: dict[str, int] = {}
    if redis is not None:
        try:
            depths = runtime().queue_depths(redis)
        except (RedisError, OSError) as exc:
            redis_failed(exc)
            redis = None
    workers = _workers() if redis is not None else None
    body = metrics.render(
        redis,
        backlog,
        depths,
        {"database": database, "redis": redis is not None},
        workers=workers,
        tenant_labels=settings.metrics_tenant_labels,
    )
    body += render_messages(outbox, settings.metrics_tenant_labels)
    return Response(body, mimetype="text/plain; version=0.0.4")


def _bearer_matches(token: str) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>`` (constant-time comparison)."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
