"""Errors of the campaigns."""

from __future__ import annotations

from core.errors import ConfigError, UserError


class CampaignConfigError(ConfigError):
    """A campaign's definition is invalid; the message names the key and what is allowed."""


class CampaignStateError(UserError):
    """What was asked does not fit the campaign's state (scheduling one already sent...)."""
