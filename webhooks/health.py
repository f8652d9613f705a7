"""``GET /healthz`` (database and Redis status) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from core.reports.metrics import render_messages
from core.reports.store.outbox import message_counts
from core.store.tenants import list_tenants
from inbound import metrics
from inbound.deliveries import count_by_state
from webhooks.context import app_redis, redis_failed, runtime

log = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


def _database_ok() -> bool:
    try:
        with runtime().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
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
    body = {"status": status, "database": "ok" if database else "down", "redis": "ok" if redis else "down"}
    return jsonify(body), 200 if database else 503


@bp.get("/metrics")
def prometheus() -> Any:
    """The Prometheus metrics (text exposition format 0.0.4)."""
    backlog: dict[tuple[str, str, str], int] = {}
    outbox: dict[tuple[str, str, str, str], int] = {}
    database = True
    try:
        with runtime().engine.connect() as conn:
            for tenant in list_tenants(conn):
                for (source, state), count in count_by_state(conn, tenant.id).items():
                    backlog[(tenant.name, source, state)] = count
                for (flow, channel, status), count in message_counts(conn, tenant.id).items():
                    outbox[(tenant.name, flow, channel, status)] = count
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
    body = metrics.render(redis, backlog, depths, {"database": database, "redis": redis is not None})
    # tenant names only when switched on (RELANCE_METRICS_TENANT_LABELS, a setting of the secure branch)
    body += render_messages(outbox, bool(getattr(runtime().settings, "metrics_tenant_labels", False)))
    return Response(body, mimetype="text/plain; version=0.0.4")
