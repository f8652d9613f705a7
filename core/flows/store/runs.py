"""Flow runs in the store: start, end, claim the due ones, look them up.

Every function takes the connection and is scoped by tenant, except the
sweep's ``claim_due_runs`` that serves every tenant at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
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


#: ``conn.info`` key: while one event's reactions run (``remembering_waiting``), (tenant id, contact id) -> the
#: flows in which the contact has a waiting run (or may have: runs ended meanwhile stay listed).
_WAITING_FLOWS = "flows.waiting"


@contextmanager
def remembering_waiting(conn: Connection) -> Iterator[None]:
    """While one event's reactions run: ``end_runs`` and ``waiting_runs`` for a contact and flows in which the
    contact has no waiting run answer without a statement. The contact's flows with waiting runs are read once
    (at the first such call), and every run ``start_run`` creates meanwhile is added to them. A first sync of a
    shop with recent orders asks this several times per order (each flow ending its runs on an order), nearly
    always for nothing."""
    if _WAITING_FLOWS in conn.info:  # already remembering: one memo, which every start_run keeps current
        yield
        return
    conn.info[_WAITING_FLOWS] = {}
    try:
        yield
    finally:
        conn.info.pop(_WAITING_FLOWS, None)


_WAITING_FLOW_NAMES = (
    select(flow_runs.c.flow)
    .distinct()
    .where(
        flow_runs.c.tenant_id == bindparam("b_tenant"),
        flow_runs.c.contact_id == bindparam("b_contact"),
        flow_runs.c.state == RunState.WAITING.value,
    )
)


def _none_waiting(conn: Connection, tenant_id: int, contact_id: int | None, flows: Iterable[str]) -> bool:
    """True when, within ``remembering_waiting``, the contact has no waiting run in any of ``flows``."""
    memo = conn.info.get(_WAITING_FLOWS)
    if memo is None or contact_id is None:
        return False
    key = (tenant_id, contact_id)
    if key not in memo:
        memo[key] = set(conn.execute(_WAITING_FLOW_NAMES, {"b_tenant": tenant_id, "b_contact": contact_id}).scalars())
    return not memo[key].intersection(flows)


@dataclass(frozen=True)
class DueRun:
    id: int
    tenant_id: int
    contact_id: int


# The statements of the per-event reactions (``start_run``, ``end_runs``, ``waiting_runs``...) are built once
# and run with parameters: building a SQLAlchemy expression and its cache key for each call cost more than
# running it, and a first sync of a shop with recent orders makes several of these calls per order.


def _typed(name: str) -> Any:
    """A parameter for ``flow_runs.<name>`` with the column's type (its Python conversion)."""
    return bindparam(f"b_{name}", type_=flow_runs.c[name].type)


@cache
def _start(dialect: str) -> Any:
    columns = ("tenant_id flow contact_id trigger_key state position due_at step_due_at trigger_at context "
               "started_at updated_at").split()  # fmt: skip
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(flow_runs)
    return (
        insert.values({name: _typed(name) for name in columns})
        .on_conflict_do_nothing(index_elements=["tenant_id", "flow", "trigger_key"])
        .returning(flow_runs.c.id)
    )


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
    params = {
        "b_tenant_id": tenant_id,
        "b_flow": flow,
        "b_contact_id": contact_id,
        "b_trigger_key": trigger_key[:200],
        "b_state": RunState.WAITING.value,
        "b_position": 0,
        "b_due_at": due_at,
        "b_step_due_at": step_due_at,
        "b_trigger_at": trigger_at,
        "b_context": context or {},
        "b_started_at": now,
        "b_updated_at": now,
    }
    run_id = conn.execute(_start(conn.dialect.name), params).scalar()
    memo = conn.info.get(_WAITING_FLOWS)
    if run_id is not None and memo is not None and (tenant_id, contact_id) in memo:
        memo[(tenant_id, contact_id)].add(flow)
    return run_id


#: ``end_runs``'s optional filters: name -> its condition on ``flow_runs``, and the name of its parameter.
_END_FILTERS = {
    "flow": lambda: flow_runs.c.flow == _typed("flow"),
    "flows": lambda: flow_runs.c.flow.in_(bindparam("b_flows", expanding=True)),
    "key": lambda: flow_runs.c.trigger_key == _typed("trigger_key"),
    "contact_id": lambda: flow_runs.c.contact_id == _typed("contact_id"),
    "triggered_by": lambda: flow_runs.c.trigger_at <= _typed("trigger_at"),
    "run_ids": lambda: flow_runs.c.id.in_(bindparam("b_ids", expanding=True)),
}
_END_PARAMS = {"flow": "b_flow", "flows": "b_flows", "key": "b_trigger_key", "contact_id": "b_contact_id",
               "triggered_by": "b_trigger_at", "run_ids": "b_ids"}  # fmt: skip


@cache
def _end(filters: tuple[str, ...]) -> Any:
    """The UPDATE ... RETURNING of ``end_runs`` for the filters given (one statement per combination)."""
    where = [flow_runs.c.tenant_id == _typed("tenant_id"), flow_runs.c.state == RunState.WAITING.value]
    where += [_END_FILTERS[name]() for name in filters]
    return (
        update(flow_runs)
        .where(*where)
        .values(
            state=_typed("state"),
            end_reason=_typed("end_reason"),
            ended_at=_typed("ended_at"),
            due_at=None,
            claimed_until=None,
            updated_at=_typed("updated_at"),
        )
        .returning(flow_runs.c.id)
    )


#: Messages a run held back, dropped when it ends.
_DROP_HELD = (
    update(messages)
    .where(
        messages.c.tenant_id == bindparam("b_tenant"),
        messages.c.run_id.in_(bindparam("b_ids", expanding=True)),
        messages.c.status == "held",
    )
    .values(
        status="dropped", reason=bindparam("b_reason"), updated_at=bindparam("b_now", type_=messages.c.updated_at.type)
    )
)


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
    given = {
        "flow": flow,
        "flows": None if flows is None else sorted(set(flows)),
        "key": key,
        "contact_id": contact_id,
        "triggered_by": triggered_by,
        "run_ids": None if run_ids is None else list(run_ids),
    }
    filters = tuple(name for name, value in given.items() if value is not None)
    if any(given[name] == [] for name in ("flows", "run_ids")):
        return 0  # ``IN ()``: nothing matches
    names = [flow] if flow is not None else given["flows"]
    if names is not None and _none_waiting(conn, tenant_id, contact_id, names):
        return 0
    params = {_END_PARAMS[name]: given[name] for name in filters}
    params.update(b_tenant_id=tenant_id, b_state=state.value, b_end_reason=reason, b_ended_at=now, b_updated_at=now)
    ended = list(conn.execute(_end(filters), params).scalars())
    if ended:
        conn.execute(_DROP_HELD, {"b_tenant": tenant_id, "b_ids": ended, "b_reason": reason, "b_now": now})
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


_WAKE = (
    update(flow_runs)
    .where(
        flow_runs.c.tenant_id == _typed("tenant_id"),
        flow_runs.c.state == RunState.WAITING.value,
        flow_runs.c.flow == _typed("flow"),
        flow_runs.c.trigger_key == _typed("trigger_key"),
    )
    .values(due_at=_typed("due_at"), claimed_until=None, updated_at=_typed("updated_at"))
)


def wake_runs(conn: Connection, tenant_id: int, flow: str, key: str, now: datetime) -> int:
    """Make the waiting run of ``flow`` for ``key`` due now, so that the engine looks at it again."""
    params = {"b_tenant_id": tenant_id, "b_flow": flow, "b_trigger_key": key, "b_due_at": now, "b_updated_at": now}
    return conn.execute(_WAKE, params).rowcount


_WAITING = select(flow_runs).where(
    flow_runs.c.tenant_id == _typed("tenant_id"),
    flow_runs.c.contact_id == _typed("contact_id"),
    flow_runs.c.flow == _typed("flow"),
    flow_runs.c.state == RunState.WAITING.value,
)


def waiting_runs(conn: Connection, tenant_id: int, contact_id: int, flow: str) -> list[Any]:
    if _none_waiting(conn, tenant_id, contact_id, [flow]):
        return []
    return list(conn.execute(_WAITING, {"b_tenant_id": tenant_id, "b_contact_id": contact_id, "b_flow": flow}))


_LAST_START = select(func.max(flow_runs.c.trigger_at)).where(
    flow_runs.c.tenant_id == _typed("tenant_id"),
    flow_runs.c.contact_id == _typed("contact_id"),
    flow_runs.c.flow == _typed("flow"),
)


def last_start(conn: Connection, tenant_id: int, contact_id: int, flow: str) -> datetime | None:
    """When the contact's latest run of ``flow`` was triggered."""
    return conn.execute(_LAST_START, {"b_tenant_id": tenant_id, "b_contact_id": contact_id, "b_flow": flow}).scalar()


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
