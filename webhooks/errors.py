"""Errors of the web service: each one maps to an HTTP status and one clear sentence."""

from __future__ import annotations

from core.errors import NotFoundError, RelanceError


class WebhookError(RelanceError):
    """A request the web service refuses; ``status`` is the HTTP status to answer."""

    status = 400


class SignatureError(WebhookError):
    """The signature of a request is missing, malformed or does not match."""

    status = 401


class UnknownTenantError(WebhookError):
    """The tenant named in the URL does not exist."""

    status = 404


class PayloadTooLargeError(WebhookError):
    """The body is larger than the service accepts."""

    status = 413


class BadPayloadError(WebhookError):
    """The body is not valid JSON, or not the shape the endpoint takes."""

    status = 400


class ForbiddenOriginError(WebhookError):
    """A tracker request from an origin the tenant does not allow."""

    status = 403


class ServiceUnavailableError(WebhookError):
    """The database cannot store the delivery now: the sender should retry."""

    status = 503


class DeliveryError(RelanceError):
    """A stored delivery could not be processed (kept with this error for replay)."""


class RetryableDeliveryError(RelanceError):
    """Processing a delivery failed for a reason a retry may fix (the database, a bug being fixed)."""


class UnknownDeliveryError(NotFoundError):
    """No delivery has that id (for that tenant)."""
