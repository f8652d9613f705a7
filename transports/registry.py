"""Which transport a tenant's messages go through, from its ``messages`` settings."""

from __future__ import annotations

from pathlib import Path

from core.messages.sending import EmailTransport, SmsTransport, TransportProvider
from core.messages.settings import MessageSettings, message_settings
from core.model import Channel
from core.store.tenants import Tenant
from transports.files import FileTransport
from transports.smtp import SmtpTransport
from transports.twilio import TwilioTransport


def email_transport(settings: MessageSettings, default_dir: Path) -> EmailTransport:
    """The tenant's email transport: SMTP when configured, else ``.eml`` files in a directory."""
    if settings.transport == "smtp" and settings.smtp is not None:
        return SmtpTransport(settings.smtp)
    return FileTransport(Path(settings.directory) if settings.directory else default_dir)


def sms_transport(settings: MessageSettings, default_dir: Path) -> SmsTransport:
    """The tenant's SMS transport: Twilio when configured, else text files in a directory."""
    if settings.sms.provider == "twilio":
        return TwilioTransport(settings.sms)
    return FileTransport(Path(settings.sms.directory) if settings.sms.directory else default_dir)


def tenant_transports(outbox_dir: Path) -> TransportProvider:
    """Each tenant's transports from its settings; file transports without a directory write under ``outbox_dir/<tenant>``.

    The sending code asks once per tenant and channel in a batch and closes
    what it was given (``close``, where a transport has one) at the end.
    """

    def provider(tenant: Tenant, channel: str) -> EmailTransport | SmsTransport:
        settings = message_settings(tenant.config)
        if channel == Channel.SMS.value:
            return sms_transport(settings, outbox_dir / tenant.name)
        return email_transport(settings, outbox_dir / tenant.name)

    return provider
