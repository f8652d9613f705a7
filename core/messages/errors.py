"""Errors of the messages area. Each message is one sentence a user can act on."""

from __future__ import annotations

from core.errors import ConfigError, NotFoundError, RelanceError, SignatureError


class MessagesConfigError(ConfigError):
    """The ``messages`` section of a tenant file is invalid (a bad key, a template that fails)."""


class TemplateError(RelanceError):
    """A template could not be found or rendered (syntax, sandbox refusal, missing value)."""


class MessageNotFoundError(NotFoundError):
    """No outbox message has that id for that tenant."""


class LinkError(SignatureError):
    """A tracking, unsubscribe or confirmation link that cannot be honoured: forged, cut, expired or about a deleted contact."""


class SendError(RelanceError):
    """Sending a message failed. ``permanent`` failures are never retried."""

    permanent = False

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TemporarySendError(SendError):
    """A failure worth retrying later: a timeout, a 4xx SMTP reply, HTTP 429 or 5xx."""


class PermanentSendError(SendError):
    """A failure that retrying cannot fix, not caused by the address (content refused, bad settings)."""

    permanent = True


class BouncedError(PermanentSendError):
    """The address itself is refused for good (5xx recipient refused, invalid number): suppress it."""


class UnknownOutcomeError(PermanentSendError):
    """The provider may or may not have taken the message (no answer after the whole message went out).

    Never retried: a retry could send it twice. The message is marked for a human to check.
    """
