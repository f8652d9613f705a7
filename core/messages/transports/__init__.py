"""Transports: where composed messages leave Relance (SMTP, ``.eml`` files, an SMS provider).

This is the one part of ``core.messages`` that does network or file I/O; it is
kept here, at the edge, so that composing stays pure and the delivery job
picks a transport from the tenant's settings. A transport raises
``TemporaryDeliveryError`` (retry later), ``BouncedError`` (the address is
refused for good: suppress it), ``UnknownOutcomeError`` (maybe sent: never
retry) or ``PermanentDeliveryError`` (anything else retrying cannot fix).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from core.messages.compose import ComposedMessage
from core.messages.settings import MessageSettings


@dataclass(frozen=True)
class SendResult:
    provider_id: str
    detail: str | None = None


class EmailTransport(Protocol):
    def send_email(self, message: ComposedMessage, message_id: int, now: datetime) -> SendResult: ...


class SmsTransport(Protocol):
    def send_sms(
        self, message: ComposedMessage, message_id: int, now: datetime, status_callback: str | None
    ) -> SendResult: ...


def email_transport(settings: MessageSettings, default_dir: Path) -> EmailTransport:
    """The tenant's email transport: SMTP when configured, else ``.eml`` files in a directory."""
    if settings.transport == "smtp" and settings.smtp is not None:
        from core.messages.transports.smtp import SmtpTransport

        return SmtpTransport(settings.smtp)
    from core.messages.transports.files import FileTransport

    return FileTransport(Path(settings.directory) if settings.directory else default_dir)


def sms_transport(settings: MessageSettings, default_dir: Path) -> SmsTransport:
    """The tenant's SMS transport: Twilio when configured, else text files in a directory."""
    if settings.sms.provider == "twilio":
        from core.messages.transports.twilio import TwilioTransport

        return TwilioTransport(settings.sms)
    from core.messages.transports.files import FileTransport

    return FileTransport(Path(settings.sms.directory) if settings.sms.directory else default_dir)
