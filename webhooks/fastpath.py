"""A WSGI dispatcher in front of the Flask app: deliveries without Flask's per-request machinery.

``POST /hooks/<tenant>/woocommerce`` (WooCommerce) and ``POST /events/<tenant>``
(the Event API of the PrestaShop and Magento modules) with a
``Content-Length`` within the body limit are served here straight from the
WSGI environ: the same ``webhooks.intake.decide_and_store`` and
``hand_over_and_answer`` the Flask views call, with the same
``webhooks.woocommerce.inspect_delivery`` / ``webhooks.events.inspect_events``,
and the same answer bytes. Everything else goes to the Flask app unchanged (other
paths and methods, chunked or oversize bodies, tenant names Flask would
decode differently), and so does every request the intake refuses or fails
on (unknown tenant, bad signature, bad JSON, an unexpected error): the body
read here is put back and Flask runs the request from the start, so a
refusal is answered, counted and logged exactly as before. The one answer
written here besides the 2xx is the 503 with the database down
(``webhooks.intake.database_down``, also what Flask's error handler answers),
so that a database that does not answer is not waited for twice.

Nothing is stored before a refusal (the delivery is written last), so
handing a refused request to Flask never stores it twice.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError
from werkzeug.http import HTTP_STATUS_CODES

from core.errors import DatabaseUnavailableError
from core.tenants import NAME_RE
from inbound.events_api import SOURCE as EVENTS
from inbound.woocommerce import SOURCE as WOOCOMMERCE
from webhooks.context import MAX_BODY_BYTES, runtime
from webhooks.events import inspect_events
from webhooks.intake import (
    Inspect,
    JsonAnswer,
    Receipt,
    database_down,
    decide_and_store,
    hand_over_and_answer,
    unavailable,
)
from webhooks.woocommerce import inspect_delivery

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The routes served here (``webhooks.woocommerce.ROUTE``, ``webhooks.events.ROUTE``), an ASCII tenant name only.
_PATH = re.compile(r"/(?:hooks/([A-Za-z0-9_.-]+)/woocommerce|events/([A-Za-z0-9_.-]+))")


class FastIntake:
    """WSGI middleware: ``app.wsgi_app = FastIntake(app, app.wsgi_app)`` (``webhooks.app.create_app`` does it)."""

    def __init__(self, app: Flask, wsgi_app: WsgiApp) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        limit = app.config.get("MAX_CONTENT_LENGTH")
        self.max_body = MAX_BODY_BYTES if limit is None else min(MAX_BODY_BYTES, limit)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.wsgi_app(environ, start_response)
        route = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        length = environ.get("CONTENT_LENGTH", "")
        tenant_name = "" if route is None else route[1] or route[2]
        if (
            route is None
            or not NAME_RE.match(tenant_name)
            or not length.isdigit()
            or int(length) > self.max_body
            or "HTTP_TRANSFER_ENCODING" in environ
        ):
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(int(length))
        if len(body) != int(length):  # the client went away: Flask answers it as it does
            return self._to_flask(body, environ, start_response)
        if route[1]:
            source, inspect = WOOCOMMERCE, lambda tenant, data: inspect_delivery(tenant, data, environ)
        else:
            clock = runtime(self.app).clock
            source, inspect = EVENTS, lambda tenant, data: inspect_events(tenant, data, environ, clock())
        return self._serve(source, tenant_name, inspect, body, environ, start_response)

    def _serve(
        self,
        source: str,
        tenant_name: str,
        inspect: Inspect,
        body: bytes,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
    ) -> Iterable[bytes]:
        app = self.app
        receipt = Receipt()
        try:
            verdict, delivery_id = decide_and_store(app, source, tenant_name, lambda: body, inspect, receipt)
        except (DBAPIError, DatabaseUnavailableError) as exc:
            unavailable(app, receipt, source)
            return _write(database_down(exc), start_response)
        except Exception:  # a refusal or anything unusual: Flask answers, counts and logs it as it always did
            return self._to_flask(body, environ, start_response)
        answer = hand_over_and_answer(app, receipt, source, verdict, delivery_id)
        if not isinstance(answer, JsonAnswer):  # pragma: no cover - both inspections answer in JSON
            raise TypeError(f"unexpected answer {type(answer).__name__}")
        return _write(answer, start_response)

    def _to_flask(self, body: bytes, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"] = io.BytesIO(body)
        return self.wsgi_app(environ, start_response)


def _write(answer: JsonAnswer, start_response: Callable[..., Any]) -> list[bytes]:
    """Start the response as Flask's would (status line, Content-Type, Content-Length, the answer's headers)."""
    data = answer.text.encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *answer.headers]
    start_response(f"{answer.status} {HTTP_STATUS_CODES[answer.status].upper()}", headers)
    return [data]
