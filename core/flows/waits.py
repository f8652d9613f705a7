"""Waits that end on an event: the runs waiting for it are made due when the contact's event is stored.

A ``Wait`` with ``until_event`` (a survey's answer, a click) ends early: the
engine goes on as soon as the contact has that event after the run's
trigger. ``wake_for_event`` is what makes such a run due at once instead of
at the end of its wait.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from core.flows.config import TenantFlows
from core.flows.model import Wait
from core.flows.store.lifecycle import waiting_at, wake


def wake_for_event(conn: Connection, tenant_id: int, flows: TenantFlows, contact_id: int, name: str | None,
                   now: datetime) -> int:  # fmt: skip
    """Make due the contact's runs standing at a wait for ``name``; return how many."""
    if not name:
        return 0
    listening = {
        d.name: d for d in flows.by_name.values() if any(isinstance(s, Wait) and s.until_event == name for s in d.steps)
    }
    if not listening:
        return 0
    due = []
    for run in waiting_at(conn, tenant_id, contact_id, sorted(listening)):
        steps = listening[run.flow].steps
        step = steps[run.position] if run.position < len(steps) else None
        if isinstance(step, Wait) and step.until_event == name:
            due.append(run.id)
    return wake(conn, tenant_id, due, now)
