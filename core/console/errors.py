"""Errors of the console's core."""

from __future__ import annotations

from core.errors import RelanceError, UserError


class AccountError(UserError):
    """A user name, role, tenant or password given for an account is not acceptable."""


class AccessDeniedError(RelanceError):
    """The signed-in user may not see or change this (another tenant, a viewer changing settings)."""
