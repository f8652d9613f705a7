"""``GET /healthz`` (database and Redis status) and ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
    """The Prometheus metrics (text exposition format 0.0.4)."""
    backlog: dict[tuple[str, str, str], int] = {}
    database = True
    try:
        with runtime().engine.connect() as conn:
            for tenant in list_tenants(conn):
                for (source, state), count in count_by_state(conn, tenant.id).items():
                    backlog[(tenant.name, source, state)] = count
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
    body = metrics.render(redis, backlog, depths, {"database": database, "redis": redis is not None}, workers=workers)
    return Response(body, mimetype="text/plain; version=0.0.4")
