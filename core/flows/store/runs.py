"""Flow runs in the store: start, end, claim the due ones, look them up.

Every function takes the connection and is scoped by tenant, except the
sweep's ``claim_due_runs`` that serves every tenant at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.flows.model import RunState
from core.flows.store.schema import flow_runs
from core.flows.store.sql import among
from core.store.schema import messages

#: How long a sweep's claim lasts: a run whose job was lost (Redis flushed, worker
#: killed) is claimed again once it expires.
CLAIM_LEASE = timedelta(minutes=10)


@dataclass(frozen=True)
class DueRun:
    id: int
    tenant_id: int
    contact_id: int


def _insert_ignore(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(flow_runs).on_conflict_do_nothing(index_elements=["tenant_id", "flow", "trigger_key"])
    return sqlite.insert(flow_runs).on_conflict_do_nothing(index_elements=["tenant_id", "flow", "trigger_key"])


def start_run(
    conn: Connection,
    tenant_id: int,
    flow: str,
    contact_id: int,
    trigger_key: str,
    trigger_at: datetime,
    due_at: datetime,
    now: datetime,
    context: dict[str, Any] | None = None,
    step_due_at: datetime | None = None,
) -> int | None:
    """Create a waiting run; return its id, or None when the flow already has a run for that key."""
    return conn.execute(
        _insert_ignore(conn)
        .values(
            tenant_id=tenant_id,
            flow=flow,
            contact_id=contact_id,
            trigger_key=trigger_key[:200],
            state=RunState.WAITING.value,
            position=0,
            due_at=due_at,
            step_due_at=step_due_at,
            trigger_at=trigger_at,
            context=context or {},
            started_at=now,
            updated_at=now,
        )
        .returning(flow_runs.c.id)
    ).scalar()


def end_runs(
    conn: Connection,
    tenant_id: int,
    state: RunState,
    reason: str,
    now: datetime,
    *,
    flow: str | None = None,
    flows: Iterable[str] | None = None,
    key: str | None = None,
    contact_id: int | None = None,
    triggered_by: datetime | None = None,
    run_ids: Sequence[int] | None = None,
) -> int:
    """End the waiting runs that match every filter given (and drop the messages they held back).

    ``triggered_by``: only runs whose trigger happened at or before it. Returns how many ended.
    """
    where: list[Any] = [flow_runs.c.tenant_id == tenant_id, flow_runs.c.state == RunState.WAITING.value]
    if flow is not None:
        where.append(flow_runs.c.flow == flow)
    if flows is not None:
        where.append(flow_runs.c.flow.in_(sorted(set(flows))))
    if key is not None:
        where.append(flow_runs.c.trigger_key == key)
    if contact_id is not None:
        where.append(flow_runs.c.contact_id == contact_id)
    if triggered_by is not None:
        where.append(flow_runs.c.trigger_at <= triggered_by)
    if run_ids is not None:
        where.append(flow_runs.c.id.in_(list(run_ids)))
    ended = list(
        conn.execute(
            update(flow_runs)
            .where(*where)
            .values(state=state.value, end_reason=reason, ended_at=now, due_at=None, claimed_until=None, updated_at=now)
            .returning(flow_runs.c.id)
        ).scalars()
    )
    if ended:
        conn.execute(
            update(messages)
            .where(messages.c.tenant_id == tenant_id, messages.c.run_id.in_(ended), messages.c.status == "held")
            .values(status="dropped", reason=reason, updated_at=now)
        )
    return len(ended)


def end_contact_runs(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    flows: Iterable[str],
    reason: str,
    now: datetime,
    state: RunState = RunState.EXITED,
) -> int:
    names = sorted(set(flows))
    if not names:
        return 0
    return end_runs(conn, tenant_id, state, reason, now, contact_id=contact_id, flows=names)


def wake_runs(conn: Connection, tenant_id: int, flow: str, key: str, now: datetime) -> int:
    """Make the waiting run of ``flow`` for ``key`` due now, so that the engine looks at it again."""
    return conn.execute(
        update(flow_runs)
        .where(
            flow_runs.c.tenant_id == tenant_id,
            flow_runs.c.state == RunState.WAITING.value,
            flow_runs.c.flow == flow,
            flow_runs.c.trigger_key == key,
        )
        .values(due_at=now, claimed_until=None, updated_at=now)
    ).rowcount


def waiting_runs(conn: Connection, tenant_id: int, contact_id: int, flow: str) -> list[Any]:
    return list(
        conn.execute(
            select(flow_runs).where(
                flow_runs.c.tenant_id == tenant_id,
                flow_runs.c.contact_id == contact_id,
                flow_runs.c.flow == flow,
                flow_runs.c.state == RunState.WAITING.value,
            )
        )
    )


def last_start(conn: Connection, tenant_id: int, contact_id: int, flow: str) -> datetime | None:
    """When the contact's latest run of ``flow`` was triggered."""
    return conn.execute(
        select(func.max(flow_runs.c.trigger_at)).where(
            flow_runs.c.tenant_id == tenant_id, flow_runs.c.contact_id == contact_id, flow_runs.c.flow == flow
        )
    ).scalar()


def claim_due_runs(
    conn: Connection,
    now: datetime,
    limit: int,
    lease: timedelta = CLAIM_LEASE,
    tenant_id: int | None = None,
) -> list[DueRun]:
    """Claim up to ``limit`` due runs no other sweep holds, oldest first, for ``lease``.

    On PostgreSQL concurrent sweeps skip each other's rows (SKIP LOCKED).
    """
    query = (
        select(flow_runs.c.id, flow_runs.c.tenant_id, flow_runs.c.contact_id)
        .where(
            flow_runs.c.state == RunState.WAITING.value,
            flow_runs.c.due_at <= now,
            or_(flow_runs.c.claimed_until.is_(None), flow_runs.c.claimed_until < now),
        )
        .order_by(flow_runs.c.due_at, flow_runs.c.id)
        .limit(limit)
    )
    if tenant_id is not None:
        query = query.where(flow_runs.c.tenant_id == tenant_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = [DueRun(row.id, row.tenant_id, row.contact_id) for row in conn.execute(query)]
    ids = [run.id for run in due]
    for start in range(0, len(ids), 5000):
        conn.execute(
            update(flow_runs)
            .where(among(conn, flow_runs.c.id, ids[start : start + 5000]))
            .values(claimed_until=now + lease)
        )
    return due


def next_due_at(conn: Connection, tenant_id: int) -> datetime | None:
    """When the tenant's next waiting run is due (None when none waits)."""
    return conn.execute(
        select(func.min(flow_runs.c.due_at)).where(
            flow_runs.c.tenant_id == tenant_id, flow_runs.c.state == RunState.WAITING.value
        )
    ).scalar()


def save_runs(conn: Connection, tenant_id: int, runs: Sequence[Any], now: datetime) -> None:
    """Write evaluated runs back: one UPDATE per distinct outcome (a batch of birthdays is one statement)."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    contexts = [{"c_id": run.id, "c_context": run.context} for run in runs if getattr(run, "context_changed", False)]
    if contexts:  # an A/B split gave the run its variant
        conn.execute(
            update(flow_runs)
            .where(flow_runs.c.tenant_id == tenant_id, flow_runs.c.id == bindparam("c_id"))
            .values(context=bindparam("c_context")),
            contexts,
        )
    for run in runs:
        if run.changed:
            key = (run.state, run.position, run.due_at, run.step_due_at, run.end_reason)
            groups.setdefault(key, []).append(run.id)
    for (state, position, due_at, step_due_at, reason), ids in groups.items():
        for start in range(0, len(ids), 5000):
            conn.execute(
                update(flow_runs)
                .where(flow_runs.c.tenant_id == tenant_id, among(conn, flow_runs.c.id, ids[start : start + 5000]))
                .values(
                    state=state,
                    position=position,
                    due_at=due_at,
                    step_due_at=step_due_at,
                    end_reason=reason,
                    ended_at=None if state == RunState.WAITING.value else now,
                    claimed_until=None,
                    updated_at=now,
                )
            )
