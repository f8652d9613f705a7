"""The SMTP transport: ``smtplib`` with STARTTLS or implicit TLS and authentication.

Replies are sorted before anything is retried: a 4xx is temporary, a 5xx on
the recipient is a bounce (the address is suppressed), any other 5xx is a
permanent failure of this message. One connection serves a whole batch
(``close`` ends it); a kept connection found closed before a message was
handed over is reopened once. Losing the connection before the message
was handed over is temporary; losing it while waiting for the reply to the
message itself is an unknown outcome, never retried (it may have been sent).
The Message-ID is derived from the outbox's unique key in any case.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import datetime
from functools import cache

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


class _Stale(Exception):
    """A kept connection turned out closed before the message was handed over: worth one try on a new one."""


@cache
def default_ssl_context() -> ssl.SSLContext:
    """The system's default TLS context (certificates and host names verified), built once per process: building
    one loads the system's CA certificates (37 ms), and a transport is made for every batch of messages: 6 % of
    a batch of 100 composed and sent to a local SMTP server (``bench/flows_delivery.py --profile``). A context
    is safe to share between connections and threads."""
    return ssl.create_default_context()


class SmtpTransport:
    """Sends emails over one SMTP connection, kept open across a batch (``close`` ends it)."""

    def __init__(self, settings: SmtpSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self._ssl_context = ssl_context
        self._client: smtplib.SMTP | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context given, else the process's default one (built only when a connection uses TLS)."""
        return self._ssl_context or default_ssl_context()

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=self.ssl_context)
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
        try:
            client.ehlo()
            if s.security == "starttls":
                client.starttls(context=self.ssl_context)
                client.ehlo()
            if s.username and s.password:
                client.login(s.username, s.password)
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        """Say goodbye to the server (QUIT) and drop the connection."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def send_email(self, message: ComposedMessage, message_id: int, now: datetime) -> SendResult:
        email = build_email(message, now)
        assert message.sender_email is not None and message.to is not None
        data = email.as_bytes()
        try:
            self._transaction(message, data)
        except _Stale:
            self._transaction(message, data)  # on a fresh connection: it cannot be stale again
        return SendResult(
            provider_id=message.headers.get("Message-ID", f"smtp:{message_id}"),
            detail=f"{self.settings.host}:{self.settings.port}",
        )

    def _transaction(self, message: ComposedMessage, data: bytes) -> None:
        """One MAIL/RCPT/DATA on the kept connection (opened if needed); raise the sending errors."""
        assert message.sender_email is not None and message.to is not None
        where = f"{self.settings.host}:{self.settings.port}"
        reused = self._client is not None
        handed_over = False
        try:
            if self._client is None:
                self._client = self._connect()
            client = self._client
            code, reply = client.mail(message.sender_email, ["SMTPUTF8"] if _needs_utf8(message) else [])
            if code != 250:
                if reused and code == 421:  # the server is closing an idle connection
                    raise smtplib.SMTPServerDisconnected(f"{code} {reply!r}")
                raise _by_code(code, f"the SMTP server refused the sender: {code} {reply!r}")
            reused = False  # the server answered: a failure from here on is not a stale connection
            code, reply = client.rcpt(message.to)
            if code not in (250, 251):
                raise _by_code(code, f"the SMTP server refused the recipient: {code}", bounce=True)
            handed_over = True
            code, reply = client.data(data)
            if code != 250:
                raise _by_code(code, f"the SMTP server refused the message: {code}")
        except (TemporarySendError, BouncedError, PermanentSendError):
            self._reset()
            raise
        except smtplib.SMTPAuthenticationError as exc:
            self._drop()
            raise PermanentSendError(
                f"the SMTP server {where} refused the username or password ({exc.smtp_code}); fix messages.transport"
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            self._drop()
            raise PermanentSendError(
                f"the SMTP server {where} does not offer STARTTLS; use security: tls (port 465) or none"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise _by_code(exc.smtp_code, f"the SMTP server {where} answered {_reply(exc)}") from exc
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise PermanentSendError(
                f"the certificate of the SMTP server {where} does not verify ({exc.verify_message})"
            ) from exc
        except (smtplib.SMTPServerDisconnected, smtplib.SMTPException, OSError) as exc:
            self._drop()
            reason = f"{type(exc).__name__}: {exc}"[:200]
            if handed_over:
                raise UnknownOutcomeError(
                    f"the SMTP server {where} stopped answering after the message was sent ({reason}); "
                    "it may have gone out, so it is not sent again"
                ) from exc
            if reused:
                raise _Stale() from exc
            raise TemporarySendError(f"cannot reach the SMTP server {where} ({reason})") from exc

    def _reset(self) -> None:
        """After a refused message, RSET so that the connection serves the next one (or drop it)."""
        if self._client is None:
            return
        try:
            self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()


def _needs_utf8(message: ComposedMessage) -> bool:
    return not (message.to or "").isascii() or not (message.sender_email or "").isascii()
