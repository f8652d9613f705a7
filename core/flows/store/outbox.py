"""Writing the engine's decisions to the outbox (``core.store.schema.messages``).

Each message has a ``dedupe_key`` unique per tenant (``run:42:step:2``): it is
inserted or ignored, so a step retried after a crash, or run by two workers,
records (and sends) one message. A message held back by pressure is written
"held" and later turned, under the same key, into "scheduled" or "dropped".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Integer,
    Text,
    bindparam,
    cast,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from core.flows.store.sql import among
from core.store.schema import messages

SCHEDULED = "scheduled"
HELD = "held"
DROPPED = "dropped"


@dataclass
class Planned:
    """A message the engine decided on, not yet written."""

    contact_id: int
    flow: str
    run_id: int | None
    step: int
    channel: str
    marketing: bool
    template: str
    context: dict[str, Any]
    dedupe_key: str
    status: str
    due_at: datetime
    reason: str | None = None
    to_address: str | None = None
    from_held: bool = False  # a held message of this key may exist: update it
    id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: The A/B variant the message follows and the campaign it belongs to (reports group by them).
    variant: str | None = None
    campaign: str | None = None


@dataclass
class Move:
    """A scheduled message moved (or dropped) to make room for a higher-priority one."""

    message_id: int
    status: str
    due_at: datetime
    reason: str


class Outbox:
    def __init__(self, conn: Connection, tenant_id: int, now: datetime) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.now = now
        self.planned: list[Planned] = []
        self.moves: list[Move] = []
        self.ended: list[tuple[int, str]] = []

    def drop_held(self, run_id: int, reason: str) -> None:
        """A run that ends drops the message it was holding back."""
        self.ended.append((run_id, reason))

    def add(self, message: Planned) -> Planned:
        self.planned.append(message)
        return message

    def move(self, message_id: int, status: str, due_at: datetime, reason: str) -> None:
        self.moves.append(Move(message_id, status, due_at, reason))

    def _row(self, message: Planned) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "contact_id": message.contact_id,
            "flow": message.flow,
            "run_id": message.run_id,
            "step": message.step,
            "variant": message.variant,
            "campaign": message.campaign,
            "channel": message.channel,
            "marketing": message.marketing,
            "template": message.template,
            "context": message.context,
            "dedupe_key": message.dedupe_key,
            "status": message.status,
            "reason": message.reason,
            "due_at": message.due_at,
            "to_address": message.to_address,
            "attempts": 0,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _update_held(self, message: Planned) -> int | None:
        return self.conn.execute(
            update(messages)
            .where(
                messages.c.tenant_id == self.tenant_id,
                messages.c.dedupe_key == message.dedupe_key,
                messages.c.status == HELD,
            )
            .values(
                status=message.status,
                reason=message.reason,
                due_at=message.due_at,
                context=message.context,
                to_address=message.to_address,
                updated_at=self.now,
            )
            .returning(messages.c.id)
        ).scalar()

    def _insert_many(self, inserts: list[Planned]) -> None:
        """Insert or ignore, then read the ids back by key (SQLite)."""
        stmt = sqlite.insert(messages).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        self.conn.execute(stmt, [self._row(m) for m in inserts])
        by_key = {m.dedupe_key: m for m in inserts}
        keys = sorted(by_key)
        for start in range(0, len(keys), 2000):
            rows = self.conn.execute(
                select(messages.c.id, messages.c.dedupe_key, messages.c.run_id).where(
                    messages.c.tenant_id == self.tenant_id,
                    among(self.conn, messages.c.dedupe_key, keys[start : start + 2000]),
                )
            )
            for message_id, key, run_id in rows:
                if run_id == by_key[key].run_id:
                    by_key[key].id = message_id

    def _insert_unnest(self, inserts: list[Planned]) -> None:
        """One INSERT ... SELECT FROM unnest(arrays) ... RETURNING per 1000 messages (PostgreSQL):
        a few array parameters instead of thousands of scalar ones."""
        columns = [
            ("contact_id", BigInteger()),
            ("flow", Text()),
            ("run_id", BigInteger()),
            ("step", Integer()),
            ("variant", Text()),
            ("campaign", Text()),
            ("channel", Text()),
            ("marketing", Boolean()),
            ("template", Text()),
            ("context", Text()),
            ("dedupe_key", Text()),
            ("status", Text()),
            ("reason", Text()),
            ("due_at", DateTime(timezone=True)),
            ("to_address", Text()),
        ]
        for start in range(0, len(inserts), 1000):
            chunk = inserts[start : start + 1000]
            rows = [self._row(m) for m in chunk]
            for row in rows:
                row["context"] = json.dumps(row["context"], separators=(",", ":"))
            arrays = {
                name: func.unnest(bindparam(f"u_{name}", [row[name] for row in rows], type_=ARRAY(kind)))
                for name, kind in columns
            }
            arrays["context"] = cast(arrays["context"], JSONB)
            source = select(
                bindparam("u_tenant", self.tenant_id, type_=Integer()),
                *arrays.values(),
                bindparam("u_attempts", 0, type_=Integer()),
                bindparam("u_created", self.now, type_=DateTime(timezone=True)),
                bindparam("u_updated", self.now, type_=DateTime(timezone=True)),
            )
            names = ["tenant_id", *arrays, "attempts", "created_at", "updated_at"]
            stmt = (
                postgresql.insert(messages)
                .from_select(names, source)
                .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
                .returning(messages.c.id, messages.c.dedupe_key)
            )
            by_key = {m.dedupe_key: m for m in chunk}
            for message_id, key in self.conn.execute(stmt):
                by_key[key].id = message_id

    def flush(self) -> list[tuple[int, datetime]]:
        """Write everything; return (id, due time) of the messages to send."""
        inserts: list[Planned] = []
        for message in self.planned:
            if message.from_held:
                message.id = self._update_held(message)
                if message.id is not None:
                    continue
            inserts.append(message)
        if inserts and self.conn.dialect.name == "postgresql":
            self._insert_unnest(inserts)
        elif inserts:
            self._insert_many(inserts)
        if self.ended:
            self.conn.execute(
                update(messages)
                .where(
                    messages.c.tenant_id == self.tenant_id,
                    messages.c.run_id == bindparam("e_run"),
                    messages.c.status == HELD,
                )
                .values(status=DROPPED, reason=bindparam("e_reason"), updated_at=self.now),
                [{"e_run": run_id, "e_reason": reason[:200]} for run_id, reason in self.ended],
            )
        sends = [(m.id, m.due_at) for m in self.planned if m.id is not None and m.status == SCHEDULED]
        if self.moves:
            self.conn.execute(
                update(messages)
                .where(
                    messages.c.id == bindparam("m_id"),
                    messages.c.tenant_id == self.tenant_id,
                    messages.c.status == SCHEDULED,
                )
                .values(
                    status=bindparam("m_status"),
                    due_at=bindparam("m_due"),
                    reason=bindparam("m_reason"),
                    updated_at=self.now,
                ),
                [
                    {"m_id": m.message_id, "m_status": m.status, "m_due": m.due_at, "m_reason": m.reason}
                    for m in self.moves
                ],
            )
            sends.extend((m.message_id, m.due_at) for m in self.moves if m.status == SCHEDULED)
        return sends
