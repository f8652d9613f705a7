"""Builders for the messages tests: tenants, contacts, outbox rows, a runtime, SMTP servers."""

from __future__ import annotations

import itertools
import socket
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlalchemy import Engine, select

from core.events import parse_event
from core.pipeline import ingest
from core.store.schema import messages
from core.store.tenants import Tenant
from relance.settings import Settings
from relance.wiring import Runtime
from tests.conftest import NOW, make_tenant

SECRET = "test-secret-key-0123456789"
BASE_URL = "https://relance.example"
_ids = itertools.count(1)

SENDER = {"name": "Maison Lumière", "email": "bonjour@maison.example", "reply_to": "aide@maison.example"}


def shop(engine: Engine, messages_section: dict[str, Any] | None = None, **extra: Any) -> Tenant:
    return make_tenant(engine, "shop", locale="fr_FR", sender=SENDER, messages=messages_section or {}, **extra)


def add_contact(engine: Engine, tenant: Tenant, email: str | None = "marie@example.com", **contact: Any) -> int:
    """Ingest an identify event for a contact (opted in to email by default); return its id."""
    fields = {"first_name": "Marie", "locale": "fr_FR", "consent": {"email": True}, **contact}
    if email:
        fields["email"] = email
    event = parse_event(
        {"type": "identify", "message_id": f"c-{next(_ids)}", "timestamp": "2026-11-01T10:00:00Z", "contact": fields},
        default_source="import",
    )
    with engine.begin() as conn:
        return ingest(conn, tenant, event, NOW).contact_id


def ingest_raw(engine: Engine, tenant: Tenant, raw: dict[str, Any], source: str = "import") -> Any:
    raw = {"message_id": f"e-{next(_ids)}", "timestamp": "2026-11-20T10:00:00Z", **raw}
    with engine.begin() as conn:
        return ingest(conn, tenant, parse_event(raw, default_source=source), NOW)


def outbox(
    engine: Engine,
    tenant: Tenant,
    contact_id: int,
    flow: str = "abandoned_cart",
    step: int = 1,
    channel: str = "email",
    marketing: bool = True,
    context: dict[str, Any] | None = None,
    due_at: datetime = NOW,
    status: str = "scheduled",
) -> int:
    """Write an outbox row as the flows do; return its id."""
    with engine.begin() as conn:
        return conn.execute(
            messages.insert()
            .values(
                tenant_id=tenant.id,
                contact_id=contact_id,
                flow=flow,
                run_id=None,
                step=step,
                channel=channel,
                marketing=marketing,
                template=f"{flow}/{step}",
                context=context or {},
                dedupe_key=f"run:{next(_ids)}:step:{step}",
                status=status,
                due_at=due_at,
                attempts=0,
                created_at=NOW,
                updated_at=NOW,
            )
            .returning(messages.c.id)
        ).scalar_one()


def message_row(engine: Engine, message_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(messages).where(messages.c.id == message_id)).one()


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def runtime(engine: Engine, tmp_path: Path, clock: Clock | None = None, redis: Any = None) -> Runtime:
    settings = Settings(
        database_url=str(engine.url), redis_url=None, data_dir=tmp_path, secret_key=SECRET, base_url=BASE_URL
    )
    return Runtime(settings=settings, engine=engine, clock=clock or Clock(), _redis=redis)


@dataclass
class Inbox:
    """What the test SMTP server received, and how it answers RCPT."""

    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    rcpt_reply: str | None = None  # e.g. "550 5.1.1 no such user"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Envelope, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.received.append(message_from_bytes(envelope.original_content or b"", policy=policy.default))
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smtp_server(inbox: Inbox, **kwargs: Any) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **kwargs)
    controller.start()
    return controller
