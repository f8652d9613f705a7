"""Errors of the flows."""

from __future__ import annotations

from core.errors import ConfigError, RelanceError


class FlowError(RelanceError):
    """A flow could not be evaluated."""


class FlowConfigError(ConfigError):
    """The ``flows`` section of a tenant file is invalid; the message names the key."""


class FlowCycleError(FlowConfigError):
    """Flows can trigger each other in a loop that no step guards; the message names the cycle."""


class SurveyLinkError(FlowError):
    """A survey link was changed, cut or made for another purpose; the message says what to do."""
