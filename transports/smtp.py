"""The SMTP transport: ``smtplib`` with STARTTLS or implicit TLS and authentication.

Replies are sorted before anything is retried: a 4xx is temporary, a 5xx on
the recipient is a bounce (the address is suppressed), any other 5xx is a
permanent failure of this message. Losing the connection before the message
was handed over is temporary; losing it while waiting for the reply to the
message itself is an unknown outcome, never retried (it may have been sent).
The Message-ID is derived from the outbox's unique key in any case.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime

from core.messages.compose import ComposedMessage
from core.messages.errors import (
    BouncedError,
    PermanentSendError,
    TemporarySendError,
    UnknownOutcomeError,
)
from core.messages.mime import build_email
from core.messages.sending import SendResult
from core.messages.settings import SmtpSettings


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {' '.join(text.split())}"[:300]


def _by_code(code: int, message: str, bounce: bool = False) -> Exception:
    if 400 <= code < 500:
        return TemporarySendError(message, code=str(code))
    if bounce:
        return BouncedError(message, code=str(code))
    return PermanentSendError(message, code=str(code))


class SmtpTransport:
    def __init__(self, settings: SmtpSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.ssl_context = ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self.ssl_context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        client.ehlo()
        if s.security == "starttls":
            client.starttls(context=self.ssl_context)
            client.ehlo()
        if s.username and s.password:
            client.login(s.username, s.password)
        return client

    def send_email(self, message: ComposedMessage, message_id: int, now: datetime) -> SendResult:
        email = build_email(message, now)
        assert message.sender_email is not None and message.to is not None
        where = f"{self.settings.host}:{self.settings.port}"
        handed_over = False
        try:
            client = self._connect()
            try:
                code, reply = client.mail(message.sender_email, ["SMTPUTF8"] if _needs_utf8(message) else [])
                if code != 250:
                    raise _by_code(code, f"the SMTP server refused the sender: {code} {reply!r}")
                code, reply = client.rcpt(message.to)
                if code not in (250, 251):
                    raise _by_code(code, f"the SMTP server refused the recipient: {code}", bounce=True)
                handed_over = True
                code, reply = client.data(email.as_bytes())
                if code != 250:
                    raise _by_code(code, f"the SMTP server refused the message: {code}")
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentSendError(
                f"the SMTP server {where} refused the username or password ({exc.smtp_code}); fix messages.transport"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(
                f"the SMTP server {where} does not offer STARTTLS; use security: tls (port 465) or none"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"the SMTP server {where} answered {_reply(exc)}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentSendError(
                f"the certificate of the SMTP server {where} does not verify ({exc.verify_message})"
            ) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPException, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"[:200]
            if handed_over:
                raise UnknownOutcomeError(
                    f"the SMTP server {where} stopped answering after the message was sent ({reason}); "
                    "it may have gone out, so it is not sent again"
                ) from exc
            raise TemporarySendError(f"cannot reach the SMTP server {where} ({reason})") from exc
        return SendResult(provider_id=message.headers.get("Message-ID", f"smtp:{message_id}"), detail=where)


def _needs_utf8(message: ComposedMessage) -> bool:
    return not (message.to or "").isascii() or not (message.sender_email or "").isascii()
