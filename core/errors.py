"""Errors raised by the core. Each message is one sentence a user can act on."""

from __future__ import annotations


class RelanceError(Exception):
    """Base of every error Relance raises on purpose."""


class UserError(RelanceError):
    """Something the user gave us is wrong; the message says what and how to fix it."""


class ConfigError(UserError):
    """A tenant file or a setting is invalid."""


class SecretKeyError(ConfigError):
    """A stored secret cannot be decrypted: the secret key is missing or is not the one it was encrypted with."""


class EventError(UserError):
    """An event does not follow the Event API v1."""


class NotFoundError(UserError):
    """A named thing (tenant, contact, delivery) does not exist."""


class SignatureError(RelanceError):
    """A signature (on a received request, a provider's callback or a link) is missing, expired or does not match."""


class DatabaseUnavailableError(RelanceError):
    """The database cannot be reached."""
