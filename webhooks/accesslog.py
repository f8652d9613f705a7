"""Access logs without secrets: the signed tokens of ``/m/...`` links and signature parameters are cut out.

A click, open, unsubscribe, confirmation or survey (``/survey/...``) token is a bearer credential for
a contact's preferences, and an access log is read by more people than the
database. ``redact`` rewrites any text that may hold a request target (the
request line, the path, the query string, a Referer); ``AccessLogFilter``
applies it to the records of Werkzeug's development server (``relance
serve``; ``create_app`` installs it), and ``relance.accesslog`` to
gunicorn's access log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from core.flows.survey import PREFIX as SURVEY_PREFIX
from core.messages.links import PREFIX

REDACTED = "[redacted]"
#: Link kinds under ``/m/`` whose next path segment is a signed token.
TOKEN_KINDS = ("c", "o", "u", "s", "confirm")
#: Query parameters whose value is a credential (lower case).
SECRET_PARAMETERS = (
    "access_token",
    "api_key",
    "consumer_key",
    "consumer_secret",
    "hmac",
    "key",
    "password",
    "secret",
    "sig",
    "signature",
    "token",
)
_TOKEN_PATH = re.compile(
    rf"((?:{re.escape(PREFIX)}/(?:{'|'.join(TOKEN_KINDS)})|{re.escape(SURVEY_PREFIX)})/)[^\s\"'?#&]+"
)
_SECRET_QUERY = re.compile(rf"([?&;](?:{'|'.join(SECRET_PARAMETERS)})=)[^&;\s\"'#]*", re.IGNORECASE)
# A percent-encoded query (a Referer quoting a URL): %3F ? and %26 &
_SECRET_QUERY_ENCODED = re.compile(
    rf"((?:%3F|%26)(?:{'|'.join(SECRET_PARAMETERS)})(?:=|%3D))[^&;\s\"'#%]*", re.IGNORECASE
)


def redact(text: str) -> str:
    """``text`` with link tokens and secret query parameters replaced by ``[redacted]``."""
    if PREFIX not in text and SURVEY_PREFIX not in text and "=" not in text and "%3" not in text.upper():
        return text
    text = _TOKEN_PATH.sub(rf"\1{REDACTED}", text)
    text = _SECRET_QUERY.sub(rf"\1{REDACTED}", text)
    return _SECRET_QUERY_ENCODED.sub(rf"\1{REDACTED}", text)


def redact_query(query: str) -> str:
    """A bare query string (``a=1&sig=...``, no ``?``) with its secret parameters redacted."""
    return redact("?" + query)[1:] if query else query


def redact_value(value: Any) -> Any:
    """A log argument with ``redact`` applied when it is text (other values as they are)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes):
        return redact(value.decode("latin-1")).encode("latin-1")
    return value


class AccessLogFilter(logging.Filter):
    """Redacts the request targets in access log records (Werkzeug's: ``"GET /m/u/<token> HTTP/1.1" 200 -``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact_value(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: redact_value(value) for key, value in record.args.items()}
        return True


def install_werkzeug_filter() -> None:
    """Put ``AccessLogFilter`` on Werkzeug's logger (once per process)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(existing, AccessLogFilter) for existing in logger.filters):
        logger.addFilter(AccessLogFilter())
