"""The Flask app factory of the web service.

``create_app(runtime_or_settings)`` registers every blueprint named in
``BLUEPRINTS`` (dotted ``module.attribute`` paths, imported at app creation,
never at import time). A blueprint reaches the process's runtime (settings,
database engine, clock, Redis) with ``webhooks.runtime()``, which returns
``current_app.extensions["relance"]``.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from flask import Flask, current_app, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from core.errors import DatabaseUnavailableError, RelanceError
from relance.settings import Settings
from relance.wiring import Runtime, build_runtime
from webhooks.errors import REFUSALS, status_of

log = logging.getLogger(__name__)

#: Blueprints of the web service, as dotted names of ``flask.Blueprint`` objects.
BLUEPRINTS: tuple[str, ...] = (
    "webhooks.hooks.bp",
    "webhooks.events.bp",
    "webhooks.collect.bp",
    "webhooks.health.bp",
    "webhooks.tracking.bp",
)

#: Blueprints whose HTTP errors (405, 413, ...) are answered in JSON, like their refusals.
JSON_BLUEPRINTS = frozenset({"hooks", "events", "collect", "health"})
#: Their paths, for errors raised before a blueprint is known (404, 405 from routing).
JSON_PATHS = ("/hooks/", "/events/", "/collect/", "/healthz", "/metrics")

#: Largest body accepted on any endpoint; larger ones get 413.
MAX_BODY_BYTES = 1024 * 1024
#: Redis must answer within this (seconds), so that a dead Redis never holds a request up.
REDIS_TIMEOUT = 1.0
#: After Redis failed, requests skip it for this long (seconds) instead of each waiting for it.
REDIS_RETRY_AFTER = 5.0


def create_app(runtime_or_settings: Runtime | Settings | None = None, **config: Any) -> Flask:
    """Return the Flask app serving ``runtime_or_settings`` (from the environment when None).

    Settings are turned into a runtime without migrating the schema (``relance
    serve`` migrates before it starts). ``config`` overrides Flask settings.
    """
    if runtime_or_settings is None:
        runtime_or_settings = Settings.from_env()
    if isinstance(runtime_or_settings, Settings):
        runtime_or_settings = build_runtime(runtime_or_settings, migrate_schema=False)
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.config.update(config)
    app.extensions["relance"] = runtime_or_settings
    for dotted in BLUEPRINTS:
        module, _, name = dotted.rpartition(".")
        app.register_blueprint(getattr(importlib.import_module(module), name))
    _register_error_handlers(app)
    return app


def runtime() -> Runtime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["relance"]


def app_redis() -> Redis | None:
    """The Redis the app enqueues to, or None while it is unavailable.

    With RELANCE_REDIS_URL the app keeps its own client with short timeouts;
    without it, the runtime's embedded Redis. After a failure (see
    ``redis_failed``) Redis is skipped for ``REDIS_RETRY_AFTER`` seconds: the
    deliveries are stored meanwhile and the sweeper enqueues them later.
    """
    state = current_app.extensions.setdefault("relance.redis", {"client": None, "down_until": 0.0})
    if state["down_until"] > time.monotonic():
        return None
    if state["client"] is None:
        rt = runtime()
        try:
            if rt.settings.redis_url:
                state["client"] = Redis.from_url(
                    rt.settings.redis_url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
                )
            else:
                state["client"] = rt.redis
        except (RelanceError, RedisError, OSError) as exc:
            redis_failed(exc)
            return None
    return state["client"]


def redis_failed(exc: BaseException) -> None:
    """Note that Redis just failed: skip it for a few seconds."""
    state = current_app.extensions.setdefault("relance.redis", {"client": None, "down_until": 0.0})
    state["down_until"] = time.monotonic() + REDIS_RETRY_AFTER
    log.warning("Redis unavailable (%s); deliveries are stored and will be swept", type(exc).__name__)


def _register_error_handlers(app: Flask) -> None:
    def _refused(exc: Exception) -> Any:
        return jsonify(error=str(exc)), status_of(exc)

    for refusal in REFUSALS:
        app.register_error_handler(refusal, _refused)

    @app.errorhandler(DatabaseUnavailableError)
    @app.errorhandler(DBAPIError)
    def _database_down(exc: Exception) -> Any:
        log.error("database unavailable: %s", type(exc).__name__)
        response = jsonify(error="the database is unavailable; retry later")
        response.headers["Retry-After"] = "30"
        return response, 503

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        if request.blueprint not in JSON_BLUEPRINTS and not request.path.startswith(JSON_PATHS):
            return exc  # other areas' pages keep Flask's own error pages
        if exc.code == 413:
            message = f"the body is larger than {MAX_BODY_BYTES // 1024} KB; send smaller batches"
        else:
            message = exc.description or exc.name
        return jsonify(error=message), exc.code or 500
