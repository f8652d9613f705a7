"""Errors of the web service: each one maps to an HTTP status and one clear sentence.

Errors raised by the layers below for something a request sent (a malformed
payload) are answered with the status ``STATUSES`` gives them.
"""

from __future__ import annotations

from core.errors import RelanceError, SignatureError
from inbound.errors import BadPayloadError


class WebhookError(RelanceError):
    """A request the web service refuses; ``status`` is the HTTP status to answer."""

    status = 400


class UnknownTenantError(WebhookError):
    """The tenant named in the URL does not exist."""

    status = 404


class PayloadTooLargeError(WebhookError):
    """The body is larger than the service accepts."""

    status = 413


class ForbiddenOriginError(WebhookError):
    """A tracker request from an origin the tenant does not allow."""

    status = 403


class RateLimitedError(WebhookError):
    """Too many requests from one client address or for one tenant; ``retry_after`` is in seconds."""

    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(int(retry_after), 1)


class LimiterUnavailableError(WebhookError):
    """A request that must be counted (a newsletter signup) while the counters (Redis) are unavailable."""

    status = 503
    retry_after = 30


#: Errors of the layers below that a request can cause, and the HTTP status that answers each.
STATUSES: dict[type[Exception], int] = {SignatureError: 401, BadPayloadError: 400}
#: Every error that refuses a request (answered with ``status_of``).
REFUSALS: tuple[type[Exception], ...] = (WebhookError, *STATUSES)


def status_of(exc: Exception) -> int:
    """The HTTP status that answers a refusal."""
    if isinstance(exc, WebhookError):
        return exc.status
    return next(status for kind, status in STATUSES.items() if isinstance(exc, kind))
