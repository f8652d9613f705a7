"""Errors of the job layer."""

from __future__ import annotations

from core.errors import RelanceError


class NoRuntimeError(RelanceError):
    """A job ran where no runtime was installed (a plain ``rq worker`` without Relance's worker class)."""
