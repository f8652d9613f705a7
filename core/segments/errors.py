"""Errors of the segments area."""

from __future__ import annotations

from core.errors import NotFoundError


class UnknownSegmentError(NotFoundError):
    """A segment name that is neither built in nor defined in the tenant's ``segments.rules``."""
