"""Known data for the attribution and report tests: contacts, sent messages, clicks, opens, orders."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from core.events import parse_event
from core.messages.preferences import record_engagement, unsubscribe
from core.messages.store.recipients import get_identity
from core.messages.store.suppression import suppress
from core.model import Channel
from core.pipeline import ingest
from core.store.schema import messages
from core.store.tenants import Tenant

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(hours: float = 0, days: float = 0) -> datetime:
    return T0 + timedelta(hours=hours, days=days)


def contact(engine: Engine, tenant: Tenant, email: str) -> int:
    raw = {
        "type": "identify",
        "message_id": f"c-{next(_ids)}",
        "timestamp": "2026-05-01T10:00:00Z",
        "contact": {"email": email, "consent": {"email": True}},
    }
    with engine.begin() as conn:
        return ingest(conn, tenant, parse_event(raw, default_source="import"), T0).contact_id


def message(
    engine: Engine,
    tenant: Tenant,
    contact_id: int,
    flow: str,
    step: int = 1,
    when: datetime = T0,
    status: str = "sent",
    campaign: str | None = None,
    variant: str | None = None,
    channel: str = "email",
) -> Any:
    """An outbox message as the delivery job leaves it (sent at ``when``, or bounced / held out)."""
    with engine.begin() as conn:
        message_id = conn.execute(
            messages.insert()
            .values(
                tenant_id=tenant.id,
                contact_id=contact_id,
                flow=flow,
                run_id=None,
                step=step,
                campaign=campaign,
                variant=variant,
                channel=channel,
                marketing=True,
                template=f"{flow}/{step}",
                context={},
                dedupe_key=f"test:{next(_ids)}",
                status=status,
                due_at=when,
                sent_at=when if status == "sent" else None,
                attempts=1,
                created_at=when,
                updated_at=when,
            )
            .returning(messages.c.id)
        ).scalar_one()
    return _Message(message_id, contact_id, flow, step)


class _Message:
    def __init__(self, id: int, contact_id: int, flow: str, step: int) -> None:  # noqa: A002 - the outbox row's names
        self.id, self.contact_id, self.flow, self.step = id, contact_id, flow, step


def engage(engine: Engine, tenant: Tenant, msg: Any, kind: str, when: datetime, url: str | None = None) -> bool:
    """A click (``email_clicked``) or open (``email_opened``) recorded the way the link pages record them."""
    with engine.begin() as conn:
        return record_engagement(conn, tenant, msg, kind, when, url)


def order_event(
    email: str,
    order_id: str,
    placed: datetime,
    total: str,
    status: str = "paid",
    currency: str = "EUR",
    updated: datetime | None = None,
    message_id: str | None = None,
) -> Any:
    """An order event (first one placed, later ones updated), parsed as a WooCommerce one."""
    raw = {
        "type": "track",
        "event": "order_placed",
        "message_id": message_id or f"o-{next(_ids)}",
        "timestamp": (updated or placed).isoformat(),
        "contact": {"email": email},
        "properties": {
            "order_id": order_id,
            "status": status,
            "currency": currency,
            "total": total,
            "created_at": placed.isoformat(),
            "items": [{"product_id": "p1", "name": "Thing", "quantity": 1, "price": total}],
        },
    }
    return parse_event(raw, default_source="woocommerce")


def order(
    engine: Engine,
    tenant: Tenant,
    email: str,
    order_id: str,
    placed: datetime,
    total: str,
    status: str = "paid",
    currency: str = "EUR",
    updated: datetime | None = None,
) -> Any:
    """An order event (first one placed, later ones updated) through the pipeline."""
    event = order_event(email, order_id, placed, total, status, currency, updated)
    with engine.begin() as conn:
        return ingest(conn, tenant, event, updated or placed)


def unsubscribed(engine: Engine, tenant: Tenant, msg: Any, when: datetime) -> None:
    with engine.begin() as conn:
        identity = get_identity(conn, tenant.id, msg.contact_id)
        assert identity is not None
        unsubscribe(conn, tenant, identity, [Channel.EMAIL], when, "one-click unsubscribe", message_id=msg.id)


def complaint(engine: Engine, tenant: Tenant, msg: Any, address: str, when: datetime) -> None:
    with engine.begin() as conn:
        suppress(conn, tenant.id, "email", address, "complaint", when, message_id=msg.id)
