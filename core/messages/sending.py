"""Send outbox messages: claim, re-check, compose, send, record. Exactly once, one at a time.

1. ``claim_next`` moves ONE due row from ``scheduled`` to ``sending`` (and
   returns it) just before it is sent: two workers given the same ids cannot
   both take a row, and a worker that dies leaves every message it had not
   reached in ``scheduled``, where another worker (or the sweep) takes it.
2. For marketing messages, consent and suppressions are checked again at send
   time (the contact may have unsubscribed since the flow decided); a message
   that may not go is ``suppressed`` with the reason.
3. The message is composed and its recipient, subject and SMS links saved in
   the claim's transaction, then sent outside any transaction, through the
   transport the caller hands in (``transports.registry`` builds them from the
   tenant's settings, once per batch, and an SMTP connection serves the whole
   batch; this module does no network or file I/O of its own).
4. The outcome is recorded: ``sent`` (with the provider's id), ``scheduled``
   again with a later ``due_at`` for a temporary failure (up to MAX_ATTEMPTS),
   ``bounced`` (the address is suppressed for marketing) or ``failed``.

The in-doubt rule: a crash between claiming and recording leaves that one row
in ``sending``; it may or may not have reached the provider (SMTP has no
idempotency). Relance prefers a rare loss to a duplicate: ``mark_interrupted``
turns rows stuck in ``sending`` into ``failed`` with reason ``interrupted``,
recorded for a human to check, and never sends them again. Because claims are
one at a time, a killed worker leaves at most that one message in doubt.
Emails carry a Message-ID derived from the outbox's unique key, so even a
message handed over twice by a relay would have one identity.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from core.messages import preferences
from core.messages.compose import ComposedMessage, compose
from core.messages.errors import (
    BouncedError,
    MessageNotFoundError,
    SendError,
    TemplateError,
    UnknownOutcomeError,
)
from core.messages.settings import MessageSettings, message_settings
from core.messages.store.outbox import claim_next, fail_stuck, save_links, update_message
from core.messages.store.suppression import suppress, suppression_of
from core.model import Channel
from core.store.tenants import Tenant, get_tenant_by_id

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
#: Wait before the next try after a temporary failure, by attempt (the same as the jobs' retries).
BACKOFF_SECONDS = (5, 30, 120, 600, 1800)
#: A row left in ``sending`` longer than this was interrupted (every transport times out well before).
STUCK_AFTER = timedelta(minutes=15)
#: How many of a batch's ids one claim looks among (the statement stays small whatever the batch).
CLAIM_WINDOW = 50


@dataclass(frozen=True)
class SendConfig:
    """What sending needs from the install: the links' base URL and the secret that signs them."""

    base_url: str
    secret_key: str


@dataclass(frozen=True)
class SendResult:
    """What a transport reports of a message it took: the provider's id, and where it went (a file, a host)."""

    provider_id: str
    detail: str | None = None


class EmailTransport(Protocol):
    """Sends emails; raises ``TemporarySendError``, ``BouncedError``, ``UnknownOutcomeError`` or ``PermanentSendError``."""

    def send_email(self, message: ComposedMessage, message_id: int, now: datetime) -> SendResult: ...


class SmsTransport(Protocol):
    """Sends SMS; raises the same errors as ``EmailTransport``."""

    def send_sms(
        self, message: ComposedMessage, message_id: int, now: datetime, status_callback: str | None
    ) -> SendResult: ...


#: The transport for a tenant and a channel ("email" or "sms"), handed in by the caller.
TransportProvider = Callable[[Tenant, str], EmailTransport | SmsTransport]


@dataclass
class SendReport:
    sent: list[int] = field(default_factory=list)
    suppressed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    bounced: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {key: len(getattr(self, key)) for key in ("sent", "suppressed", "failed", "bounced", "retry")}


def mark_interrupted(conn: Connection, now: datetime) -> list[int]:
    """Fail rows stuck in ``sending`` (a worker died mid-send): never resent, flagged for a human."""
    return fail_stuck(
        conn, now, STUCK_AFTER, "the worker stopped while sending; it may have gone out, so it is not sent again"
    )


def _check(conn: Connection, tenant: Tenant, row: Any) -> str | None:
    """Why a claimed message may not go now, or None."""
    identity = preferences.get_identity(conn, tenant.id, row.contact_id)
    if identity is None:
        return "contact_gone"
    address = identity.phone if row.channel == Channel.SMS.value else identity.email
    address = address or row.to_address
    if not address:
        return "no_address"
    if not row.marketing:
        return None
    consent = identity.sms_consent if row.channel == Channel.SMS.value else identity.email_consent
    if consent is not True:
        return "unsubscribed" if consent is False else "no_consent"
    reason = suppression_of(conn, tenant.id, row.channel, address)
    return f"suppressed:{reason}" if reason else None


class _Batch:
    """What the messages of one batch share: tenants, their message settings and transports (read once)."""

    def __init__(self, transports: TransportProvider) -> None:
        self.provider = transports
        self.tenants: dict[int, Tenant] = {}
        self.settings: dict[int, MessageSettings] = {}
        self.transports: dict[tuple[int, str], Any] = {}

    def tenant(self, conn: Connection, tenant_id: int) -> Tenant:
        if tenant_id not in self.tenants:
            tenant = get_tenant_by_id(conn, tenant_id)
            self.tenants[tenant_id] = tenant
            self.settings[tenant_id] = message_settings(tenant.config)
        return self.tenants[tenant_id]

    def transport(self, tenant: Tenant, channel: str) -> Any:
        key = (tenant.id, channel)
        if key not in self.transports:
            self.transports[key] = self.provider(tenant, channel)
        return self.transports[key]

    def close(self) -> None:
        """Close what the transports keep open (an SMTP connection); a failure to close loses nothing."""
        for transport in self.transports.values():
            close = getattr(transport, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - every message is recorded already
                    log.warning("closing the %s transport failed", type(transport).__name__, exc_info=True)
        self.transports.clear()


def _prepare(
    conn: Connection, row: Any, tenant: Tenant, settings: MessageSettings, config: SendConfig, now: datetime
) -> Any:
    """Check and compose a claimed row; return the message, or the status values to save instead."""
    reason = _check(conn, tenant, row)
    if reason is not None:
        return {"status": "suppressed", "reason": reason}
    try:
        composed = compose(conn, tenant, row, config.base_url, config.secret_key, settings=settings)
    except TemplateError as exc:
        return {"status": "failed", "reason": "template", "error": str(exc)[:2000]}
    except MessageNotFoundError:
        return {"status": "suppressed", "reason": "contact_gone"}
    if composed.links:
        save_links(conn, tenant.id, row.id, composed.links)
    update_message(conn, row.id, now, to_address=composed.to, subject=(composed.subject or "")[:500] or None)
    return composed


def _send(
    transport: Any, composed: ComposedMessage, message_id: int, now: datetime, callback: str | None
) -> SendResult:
    if composed.channel == Channel.SMS.value:
        return transport.send_sms(composed, message_id, now, callback)
    return transport.send_email(composed, message_id, now)


def _send_next(
    engine: Engine,
    candidates: Sequence[int],
    clock: Callable[[], datetime],
    config: SendConfig,
    batch: _Batch,
    report: SendReport,
) -> int | None:
    """Claim, compose and send the next due message among ``candidates``; return its id (None: none left)."""
    now = clock()
    with engine.begin() as conn:
        row = claim_next(conn, candidates, now)
        if row is None:
            return None
        tenant = batch.tenant(conn, row.tenant_id)
        prepared = _prepare(conn, row, tenant, batch.settings[tenant.id], config, now)
        if isinstance(prepared, dict):
            update_message(conn, row.id, now, **prepared)
            getattr(report, "suppressed" if prepared["status"] == "suppressed" else "failed").append(row.id)
            log.info("message %s: %s (%s)", row.id, prepared["status"], prepared.get("reason"))
            return int(row.id)
    # From here until the outcome is recorded, this one message is in doubt if the worker dies.
    callback = f"{config.base_url}/m/sms/twilio/{tenant.name}/status"
    try:
        result = _send(batch.transport(tenant, row.channel), prepared, row.id, clock(), callback)
    except SendError as exc:
        _failed(engine, tenant, row, prepared, exc, clock(), report)
        return int(row.id)
    with engine.begin() as conn:
        update_message(
            conn, row.id, clock(), status="sent", sent_at=clock(), provider_id=result.provider_id[:200], error=None
        )
    report.sent.append(row.id)
    if result.provider_id.startswith("file:") and result.detail:
        report.files.append(result.detail)
    log.info("message %s: sent (%s, %s/%s)", row.id, row.channel, row.flow, row.step)
    return int(row.id)


def _failed(
    engine: Engine,
    tenant: Tenant,
    row: Any,
    composed: ComposedMessage,
    exc: SendError,
    now: datetime,
    report: SendReport,
) -> None:
    error = str(exc)[:2000]
    with engine.begin() as conn:
        if not exc.permanent and row.attempts < MAX_ATTEMPTS:
            delay = BACKOFF_SECONDS[min(row.attempts, len(BACKOFF_SECONDS)) - 1]
            update_message(conn, row.id, now, status="scheduled", due_at=now + timedelta(seconds=delay), error=error)
            report.retry.append(row.id)
            log.warning("message %s: temporary failure, retry in %s s: %s", row.id, delay, error)
            return
        if isinstance(exc, BouncedError):
            reason = "opted_out_at_provider" if exc.code == "21610" else "bounced"
            if composed.to:
                kind = "bounced" if row.channel == Channel.EMAIL.value else "invalid_number"
                if reason == "bounced":
                    suppress(conn, tenant.id, row.channel, composed.to, kind, now, error, row.id)
            if reason == "opted_out_at_provider":
                identity = preferences.get_identity(conn, tenant.id, row.contact_id)
                if identity is not None:
                    preferences.unsubscribe(
                        conn, tenant, identity, [Channel.SMS], now, "opted out at the SMS provider (STOP)", row.id
                    )
            update_message(conn, row.id, now, status="bounced", reason=reason, error=error)
            report.bounced.append(row.id)
        else:
            reason = (
                "unknown_outcome"
                if isinstance(exc, UnknownOutcomeError)
                else "gave_up"
                if not exc.permanent
                else "refused"
            )
            update_message(conn, row.id, now, status="failed", reason=reason, error=error)
            report.failed.append(row.id)
        log.warning("message %s: %s: %s", row.id, reason, error)


def send_messages(
    engine: Engine,
    message_ids: Sequence[int],
    clock: Callable[[], datetime],
    config: SendConfig,
    transports: TransportProvider,
) -> SendReport:
    """Send the due messages among ``message_ids`` through ``transports``, claiming each just before it goes.

    Returns what happened to each. Messages another worker claims first are
    left to it; those not yet due are left for later.
    """
    report = SendReport()
    pending = sorted({int(i) for i in message_ids})
    batch = _Batch(transports)
    try:
        while pending:
            window = pending[:CLAIM_WINDOW]
            done = _send_next(engine, window, clock, config, batch, report)
            # Ids below the one just claimed were taken by another worker, or are not due: both are left alone.
            pending = pending[len(window) :] if done is None else pending[bisect.bisect_right(pending, done) :]
    finally:
        batch.close()
    return report
