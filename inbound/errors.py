"""Errors about received payloads (webhook deliveries, Event API and tracker batches)."""

from __future__ import annotations

from core.errors import NotFoundError, RelanceError


class BadPayloadError(RelanceError):
    """A received body is not valid JSON, or not the shape its source sends.

    Raised before storing (the web service answers 400) and when processing a
    stored delivery (it is marked failed).
    """


class DeliveryError(RelanceError):
    """A stored delivery could not be processed (kept with this error for replay)."""


class RetryableDeliveryError(RelanceError):
    """Processing a delivery failed for a reason a retry may fix (the database, a bug being fixed)."""


class UnknownDeliveryError(NotFoundError):
    """No delivery has that id (for that tenant)."""
