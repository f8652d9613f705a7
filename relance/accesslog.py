"""gunicorn's access log without link tokens or signatures.

Use it as gunicorn's logger class::

    gunicorn --logger-class relance.accesslog.RedactingLogger ... 'relance.wsgi:app'

or ``logger_class = "relance.accesslog.RedactingLogger"`` in a gunicorn
config file. Every atom of the access log format that may hold a request
target (``%(r)s``, ``%(U)s``, ``%(q)s``, ``%(f)s``, headers and environ
values) goes through ``webhooks.accesslog.redact``: ``GET /m/u/[redacted]
HTTP/1.1``, ``?signature=[redacted]``.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

from webhooks.accesslog import redact_query, redact_value

_QUERY_ATOMS = ("q", "{query_string}e")


class RedactingLogger(Logger):
    """gunicorn's logger, its access log atoms redacted."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        """gunicorn's atoms, each text value with link tokens and secret parameters cut out."""
        atoms = {key: redact_value(value) for key, value in super().atoms(resp, req, environ, request_time).items()}
        for key in _QUERY_ATOMS:  # bare query strings: no "?" before the first parameter
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_query(atoms[key])
        return atoms
