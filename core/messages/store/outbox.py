"""The outbox as the sending side sees it: claim due messages, read one, record its outcome and links.

The flows write the outbox (``core.flows.store.outbox``); these functions move
a message from ``scheduled`` through ``sending`` to its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Connection, and_, any_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from core.flows.store.sql import among
from core.messages.content import ContactView
from core.messages.store.content import contact_view, get_recipient
from core.messages.store.schema import message_links, suppressions
from core.store.db import upsert
from core.store.schema import contacts, messages


def claim_next(conn: Connection, message_ids: Sequence[int], now: datetime) -> Any:
    """Move ONE due, scheduled row among ``message_ids`` (the lowest id) to ``sending``; return it, or None.

    One statement: the row is picked and claimed together, so two workers never
    take the same row. On PostgreSQL a row another worker is claiming is skipped
    (``FOR UPDATE SKIP LOCKED``) rather than waited for; SQLite runs one write at
    a time anyway. The whole row comes back, so sending it needs no other read.
    """
    if not message_ids:
        return None
    pick = (
        select(messages.c.id)
        .where(among(conn, messages.c.id, message_ids), messages.c.status == "scheduled", messages.c.due_at <= now)
        .order_by(messages.c.id)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return conn.execute(
        update(messages)
        .where(messages.c.id == pick.scalar_subquery(), messages.c.status == "scheduled")
        .values(status="sending", attempts=messages.c.attempts + 1, updated_at=now)
        .returning(*messages.c)
    ).first()


@dataclass(frozen=True)
class Claimed:
    """A message claimed for sending, with what sending checks first: its contact (None: gone) and the
    reason its address is suppressed (None: it is not)."""

    row: Any
    contact: ContactView | None
    suppressed: str | None


def claim_for_sending(
    conn: Connection,
    message_ids: Sequence[int],
    now: datetime,
    record: tuple[int, Mapping[str, Any]] | None = None,
) -> Claimed | None:
    """Record the outcome of the message sent before (``record``: its id and values), then claim the next
    due message among ``message_ids`` (``claim_next``) and read its recipient (``get_recipient``).

    On PostgreSQL the three are one statement (data-modifying CTEs): one round trip per message
    instead of three, which is what a worker mostly waits for. Returns None when no message is left.
    """
    if conn.dialect.name != "postgresql" or not message_ids:
        if record is not None:
            update_message(conn, record[0], now, **record[1])
        row = claim_next(conn, message_ids, now)
        if row is None:
            return None
        found = get_recipient(conn, row.tenant_id, row.contact_id, row.channel, row.to_address)
        return Claimed(row, *(found or (None, None)))
    params: dict[str, Any] = {"ids": list(message_ids), "now": now}
    if record is not None:
        params["record_id"] = record[0]
        params.update({f"record_{key}": value for key, value in record[1].items()})
    row = conn.execute(_claim_statement(tuple(sorted(record[1])) if record is not None else ()), params).first()
    if row is None:
        return None
    contact = None if getattr(row, f"{_RECIPIENT}id") is None else contact_view(row, _RECIPIENT)
    return Claimed(row, contact, row.suppressed_because)


@lru_cache(maxsize=8)
def _claim_statement(recorded: tuple[str, ...]) -> Any:
    """``claim_for_sending``'s PostgreSQL statement, built once (building it cost more than running it)."""
    now = bindparam("now", type_=messages.c.updated_at.type)
    pick = (
        select(messages.c.id)
        .where(
            messages.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))),
            messages.c.status == "scheduled",
            messages.c.due_at <= now,
        )
        .order_by(messages.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    claimed = (
        update(messages)
        .where(messages.c.id == pick, messages.c.status == "scheduled")
        .values(status="sending", attempts=messages.c.attempts + 1, updated_at=now)
        .returning(*messages.c)
        .cte("claimed")
    )
    address = func.coalesce(
        case((claimed.c.channel == "sms", contacts.c.phone), else_=contacts.c.email), claimed.c.to_address
    )
    query = select(
        claimed,
        *[column.label(f"{_RECIPIENT}{column.name}") for column in contacts.c],
        suppressions.c.reason.label("suppressed_because"),
    ).select_from(
        claimed.outerjoin(
            contacts, and_(contacts.c.id == claimed.c.contact_id, contacts.c.tenant_id == claimed.c.tenant_id)
        ).outerjoin(
            suppressions,
            and_(
                suppressions.c.tenant_id == claimed.c.tenant_id,
                suppressions.c.channel == claimed.c.channel,
                suppressions.c.address == address,
            ),
        )
    )
    if recorded:
        values = {key: bindparam(f"record_{key}", type_=messages.c[key].type) for key in recorded}
        recording = (
            update(messages)
            .where(messages.c.id == bindparam("record_id", type_=BigInteger()))
            .values(updated_at=now, **values)
        )
        query = query.add_cte(recording.cte("recorded"))
    return query


_RECIPIENT = "recipient_"


def still_scheduled(conn: Connection, message_ids: Sequence[int]) -> list[tuple[int, datetime]]:
    """(id, due_at) of those of ``message_ids`` still waiting to be sent."""
    rows = conn.execute(
        select(messages.c.id, messages.c.due_at).where(messages.c.id.in_(message_ids), messages.c.status == "scheduled")
    )
    return [(row.id, row.due_at) for row in rows]


def due_message_ids(conn: Connection, now: datetime, limit: int = 1000) -> list[int]:
    """Scheduled rows whose time has come (for the sweep), oldest first."""
    return list(
        conn.execute(
            select(messages.c.id)
            .where(messages.c.status == "scheduled", messages.c.due_at <= now)
            .order_by(messages.c.due_at, messages.c.id)
            .limit(limit)
        ).scalars()
    )


def fail_stuck(conn: Connection, now: datetime, stuck_after: timedelta, error: str) -> list[int]:
    """Fail rows left in ``sending`` longer than ``stuck_after`` (reason ``interrupted``); return their ids."""
    return sorted(
        conn.execute(
            update(messages)
            .where(messages.c.status == "sending", messages.c.updated_at < now - stuck_after)
            .values(status="failed", reason="interrupted", error=error, updated_at=now)
            .returning(messages.c.id)
        ).scalars()
    )


def update_message(conn: Connection, message_id: int, now: datetime, **values: Any) -> None:
    """Record what happened to a message (status, reason, error, provider id...)."""
    conn.execute(update(messages).where(messages.c.id == message_id).values(updated_at=now, **values))


def save_links(conn: Connection, tenant_id: int, message_id: int, urls: Sequence[str]) -> None:
    """Replace the message's tracked links (their position is what a click link names)."""
    conn.execute(delete(message_links).where(message_links.c.message_id == message_id))
    if urls:
        conn.execute(
            insert(message_links),
            [
                {"tenant_id": tenant_id, "message_id": message_id, "position": i, "url": url}
                for i, url in enumerate(urls)
            ],
        )


def message_context(conn: Connection, tenant_id: int, message_id: int) -> Mapping[str, Any] | None:
    """The context of a message (None when it does not exist)."""
    row = conn.execute(
        select(messages.c.context).where(messages.c.tenant_id == tenant_id, messages.c.id == message_id)
    ).first()
    return None if row is None else dict(row.context or {})


def schedule_once(conn: Connection, values: Mapping[str, Any]) -> None:
    """Write a message unless one with its ``dedupe_key`` exists (transactional messages written outside flows)."""
    upsert(conn, messages, dict(values), keys=["tenant_id", "dedupe_key"])
