"""The Flask app factory of the web service.

``create_app(runtime)`` is handed the runtime the composition root built
(``relance.wiring``; gunicorn runs ``relance.wsgi:app``) and registers every
blueprint named in ``BLUEPRINTS`` (dotted ``module.attribute`` paths,
imported at app creation, never at import time). A blueprint reaches the
runtime with ``webhooks.context.runtime()`` (never through this module, which
imports the blueprints).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, jsonify, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from core.errors import DatabaseUnavailableError, SecretKeyError
from webhooks.accesslog import install_werkzeug_filter
from webhooks.context import MAX_BODY_BYTES, WebRuntime
from webhooks.errors import REFUSALS, status_of
from webhooks.fastpath import FastIntake
from webhooks.intake import database_down, to_response

log = logging.getLogger(__name__)

#: Blueprints of the web service, as dotted names of ``flask.Blueprint`` objects.
BLUEPRINTS: tuple[str, ...] = (
    "webhooks.woocommerce.bp",
    "webhooks.events.bp",
    "webhooks.collect.bp",
    "webhooks.health.bp",
    "webhooks.links.bp",
    "webhooks.survey.bp",
)

#: Blueprints whose HTTP errors (405, 413, ...) are answered in JSON, like their refusals.
JSON_BLUEPRINTS = frozenset({"woocommerce", "events", "collect", "health"})
#: Their paths, for errors raised before a blueprint is known (404, 405 from routing).
JSON_PATHS = ("/hooks/", "/events/", "/collect/", "/healthz", "/metrics")


def create_app(runtime: WebRuntime, **config: Any) -> Flask:
    """Return the Flask app serving with ``runtime``; ``config`` overrides Flask settings.

    ``RELANCE_FAST_INTAKE=False`` in ``config`` leaves out the WSGI fast path
    of WooCommerce deliveries (``webhooks.fastpath``; the answers are the same).
    The schema is not migrated here: every ``relance`` command migrates it (run
    one once per release).
    """
    app = Flask(__name__, static_folder=None)
    app.session_interface = CookielessSessionInterface()
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.config.update(config)
    app.extensions["relance"] = runtime
    for dotted in BLUEPRINTS:
        module, _, name = dotted.rpartition(".")
        app.register_blueprint(getattr(importlib.import_module(module), name))
    _register_error_handlers(app)
    if app.config.get("RELANCE_FAST_INTAKE", True):
        # WooCommerce deliveries served from the WSGI environ; everything else (refusals too) by Flask.
        app.wsgi_app = FastIntake(app, app.wsgi_app)  # type: ignore[method-assign]
    install_werkzeug_filter()  # the development server's access log: no link tokens, no signatures
    return app


class CookielessSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, opened without building its signer when the request brings no cookie.

    A webhook, an Event API post or a tracker beacon never carries Flask's
    cookie: the new empty session Flask would make after deriving its
    signing key is made straight away, and left as Flask leaves a session
    nobody touched (what the console stores in it and how it is signed do
    not change).
    """

    def open_session(self, app: Flask, request: Any) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified and not session.accessed:
            return  # what Flask does for a session nobody touched, without reading its cookie settings
        super().save_session(app, session, response)


def _register_error_handlers(app: Flask) -> None:
    def _refused(exc: Exception) -> Any:
        response = jsonify(error=str(exc))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response, status_of(exc)

    for refusal in REFUSALS:
        app.register_error_handler(refusal, _refused)

    @app.errorhandler(DatabaseUnavailableError)
    @app.errorhandler(DBAPIError)
    def _database_down(exc: Exception) -> Any:
        return to_response(app, database_down(exc))  # the WSGI fast path answers the same

    @app.errorhandler(SecretKeyError)
    def _wrong_key(exc: SecretKeyError) -> Any:
        # The install's key does not open the tenants' secrets: a setting to fix, so the sender retries later.
        log.error("%s", exc)
        response = jsonify(error="the service cannot read its settings; retry later")
        response.headers["Retry-After"] = "60"
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
