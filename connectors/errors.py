"""Errors of the connectors."""

from __future__ import annotations

from core.errors import RelanceError, UserError


class ConnectorError(RelanceError):
    """The shop could not be read (after retries)."""


class ConnectorAuthError(ConnectorError, UserError):
    """The shop refused our credentials (401/403); the message names the tenant and what to check."""


class SyncLockedError(UserError):
    """Another sync of the same tenant is running."""
