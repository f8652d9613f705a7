"""The Flask app factory of the web service.

``create_app(runtime)`` is handed the runtime the composition root built
(``relance.wiring``; gunicorn runs ``relance.wsgi:app``) and registers every
blueprint named in ``BLUEPRINTS`` (dotted ``module.attribute`` paths,
imported at app creation, never at import time). A blueprint reaches the
runtime with ``runtime()``, which returns ``current_app.extensions["relance"]``;
``WebRuntime`` is what the web service needs of it.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from flask import Flask, current_app, jsonify, request
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from core.errors import DatabaseUnavailableError, RelanceError
from webhooks.errors import REFUSALS, status_of

log = logging.getLogger(__name__)

#: Blueprints of the web service, as dotted names of ``flask.Blueprint`` objects.
BLUEPRINTS: tuple[str, ...] = (
    "webhooks.woocommerce.bp",
    "webhooks.events.bp",
    "webhooks.collect.bp",
    "webhooks.health.bp",
    "webhooks.links.bp",
)

#: Blueprints whose HTTP errors (405, 413, ...) are answered in JSON, like their refusals.
JSON_BLUEPRINTS = frozenset({"woocommerce", "events", "collect", "health"})
#: Their paths, for errors raised before a blueprint is known (404, 405 from routing).
JSON_PATHS = ("/hooks/", "/events/", "/collect/", "/healthz", "/metrics")

#: Largest body accepted on any endpoint; larger ones get 413.
MAX_BODY_BYTES = 1024 * 1024
#: After Redis failed, requests skip it for this long (seconds) instead of each waiting for it.
REDIS_RETRY_AFTER = 5.0


class WebSettings(Protocol):
    """The install's settings the web service reads."""

    @property
    def base_url(self) -> str: ...
    @property
    def secret_key(self) -> str: ...


class WebRuntime(Protocol):
    """What the web service needs of its process (``relance.wiring.Runtime`` provides it)."""

    @property
    def settings(self) -> WebSettings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...

    def web_redis(self) -> Redis:
        """A Redis client that never holds a request up long (may raise when Redis is unavailable)."""
        ...

    def hand_over(self, redis: Redis, pipeline: Pipeline, delivery_id: int) -> None:
        """Queue the processing of a stored delivery on ``pipeline`` (executed by the caller)."""
        ...

    def queue_depths(self, redis: Redis) -> dict[str, int]:
        """Jobs waiting in each queue."""
        ...


def create_app(runtime: WebRuntime, **config: Any) -> Flask:
    """Return the Flask app serving with ``runtime``; ``config`` overrides Flask settings.

    The schema is not migrated here: every ``relance`` command migrates it (run
    one once per release).
    """
    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.config.update(config)
    app.extensions["relance"] = runtime
    for dotted in BLUEPRINTS:
        module, _, name = dotted.rpartition(".")
        app.register_blueprint(getattr(importlib.import_module(module), name))
    _register_error_handlers(app)
    return app


def runtime() -> WebRuntime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["relance"]


def app_redis() -> Redis | None:
    """The Redis the app enqueues to, or None while it is unavailable.

    The app keeps the runtime's ``web_redis()`` client (short timeouts with
    RELANCE_REDIS_URL; the embedded Redis without it). After a failure (see
    ``redis_failed``) Redis is skipped for ``REDIS_RETRY_AFTER`` seconds: the
    deliveries are stored meanwhile and the sweeper enqueues them later.
    """
    state = current_app.extensions.setdefault("relance.redis", {"client": None, "down_until": 0.0})
    if state["down_until"] > time.monotonic():
        return None
    if state["client"] is None:
        try:
            state["client"] = runtime().web_redis()
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
