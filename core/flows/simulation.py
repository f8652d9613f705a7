"""Run the production flows over a file of events with a simulated clock.

The clock starts at the first event and moves from one thing to do to the
next: an event to ingest (``core.pipeline.ingest``, so the flows react as in
production), a run due (claimed and evaluated by ``core.flows.engine``, the
code the RQ step job runs), the hourly birthday scan and the daily
replenishment refresh (what the periodic jobs run), a message due. Delivery is
faked: at its time a message is marked sent (or suppressed if the contact
withdrew consent meanwhile); nothing leaves the machine. The engine given must
be a scratch database holding the tenant, never the production one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from core.flows.dates import AHEAD, schedule_dates
from core.flows.engine import process_runs
from core.flows.replenishment import run_daily
from core.flows.rules import consent_given
from core.flows.runs import claim_due_runs, next_due_at
from core.flows.settings import tenant_flows
from core.model import Channel, Event
from core.store.schema import contacts, messages
from core.store.tenants import Tenant

#: After the last event, the simulation runs this long by default.
DEFAULT_TAIL = timedelta(days=30)
#: The periodic jobs' cadence in production (jobs/periodic.py).
DATE_SCAN_EVERY = timedelta(hours=1)
REPLENISHMENT_EVERY = timedelta(days=1)
#: With no contact changed, a scan a week looking that much further ahead than production's
#: starts the same runs as hourly scans would, only earlier (runs re-read the contact when due).
FULL_SCAN_EVERY = timedelta(days=7)
CONTACT_EFFECTS = frozenset({"contact_created", "contact_merged", "profile"})
ORDER_EFFECTS = frozenset({"order_created", "order_changed", "order_status", "order_paid"})
_BATCH = 500

Subject = Callable[[Connection, Tenant, Any], str | None]


@dataclass(frozen=True)
class SimulatedMessage:
    time: datetime
    flow: str
    step: int
    channel: str
    to: str | None
    subject: str | None
    products: list[str]

    def to_dict(self) -> dict[str, Any]:
        from core import normalize

        return {
            "time": normalize.isoformat(self.time),
            "flow": self.flow,
            "step": self.step,
            "channel": self.channel,
            "to": self.to,
            "subject": self.subject,
            "products": list(self.products),
        }


@dataclass
class SimulationResult:
    messages: list[SimulatedMessage] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    events: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None

    def per_flow(self) -> Counter[str]:
        return Counter(message.flow for message in self.messages)


class _Simulation:
    """The simulated clock and the periodic work of production, done when it can change something.

    The birthday scan runs hourly after a contact changed and weekly otherwise
    (looking a week further ahead), the replenishment refresh daily after an
    order changed: the scans skipped are the ones that would have found nothing
    new.
    """

    def __init__(self, engine: Engine, tenant: Tenant, subject: Subject | None) -> None:
        self.engine = engine
        self.tenant = tenant
        self.flows = tenant_flows(tenant.config.flows)
        self.subject = subject
        self.result = SimulationResult()
        self.clock = datetime.min.replace(tzinfo=UTC)
        self.last_scan = self.clock
        self.contacts_changed = True
        self.next_daily = self.clock
        self.orders_changed = True

    def _next_message(self, conn: Connection) -> datetime | None:
        return conn.execute(
            select(messages.c.due_at)
            .where(messages.c.tenant_id == self.tenant.id, messages.c.status == "scheduled")
            .order_by(messages.c.due_at)
            .limit(1)
        ).scalar()

    def _next_scan(self) -> datetime:
        step = DATE_SCAN_EVERY if self.contacts_changed else FULL_SCAN_EVERY
        return self.last_scan + step

    def advance(self, target: datetime) -> None:
        """Do everything due up to ``target``, in time order."""
        while True:
            with self.engine.connect() as conn:
                run_due = next_due_at(conn, self.tenant.id)
                message_due = self._next_message(conn)
            daily = self.next_daily if self.orders_changed else None
            candidates = [t for t in (run_due, message_due, self._next_scan(), daily) if t is not None]
            upcoming = min(candidates)
            if upcoming > target:
                break
            now = max(upcoming, self.clock)
            self.tick(
                now, runs=run_due is not None and run_due <= now, mail=message_due is not None and message_due <= now
            )
        self.clock = max(self.clock, target)

    def tick(self, now: datetime, runs: bool, mail: bool) -> None:
        self.clock = now
        if self._next_scan() <= now:
            with self.engine.begin() as conn:
                schedule_dates(conn, self.tenant, self.flows, now, AHEAD + FULL_SCAN_EVERY)
            self.last_scan, self.contacts_changed = now, False
        if self.orders_changed and self.next_daily <= now:
            with self.engine.begin() as conn:
                run_daily(conn, self.tenant, self.flows, now)
            self.orders_changed = False
        while self.next_daily <= now:
            self.next_daily += REPLENISHMENT_EVERY
        while runs:
            with self.engine.begin() as conn:
                due = claim_due_runs(conn, now, _BATCH, tenant_id=self.tenant.id)
                if due:
                    report = process_runs(conn, self.tenant, [run.id for run in due], now)
                    self.result.outcomes.update(report.outcomes)
            runs = bool(due)
            mail = True
        if mail:
            self.deliver(now)

    def deliver(self, now: datetime) -> None:
        """The fake transport: every message due is sent, unless consent was withdrawn meanwhile."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(messages, contacts.c.email_consent, contacts.c.sms_consent)
                .join(contacts, contacts.c.id == messages.c.contact_id)
                .where(
                    messages.c.tenant_id == self.tenant.id,
                    messages.c.status == "scheduled",
                    messages.c.due_at <= now,
                )
                .order_by(messages.c.due_at, messages.c.id)
            ).all()
            for row in rows:
                channel = Channel(row.channel)
                if row.marketing and not consent_given(channel, row.email_consent, row.sms_consent):
                    status, reason = "suppressed", "consent"
                    self.result.outcomes["suppressed:consent"] += 1
                else:
                    status, reason = "sent", row.reason
                    subject = self.subject(conn, self.tenant, row) if self.subject else None
                    self.result.messages.append(
                        SimulatedMessage(
                            time=row.due_at,
                            flow=row.flow,
                            step=row.step,
                            channel=row.channel,
                            to=row.to_address,
                            subject=subject,
                            products=list((row.context or {}).get("products") or []),
                        )
                    )
                conn.execute(
                    update(messages)
                    .where(messages.c.id == row.id)
                    .values(status=status, reason=reason, sent_at=row.due_at, updated_at=now)
                )

    def run(self, events: Iterable[Event], until: datetime | None) -> SimulationResult:
        from core.pipeline import ingest

        ordered = sorted(events, key=lambda e: e.timestamp)
        if not ordered:
            return self.result
        start = ordered[0].timestamp
        end = until or ordered[-1].timestamp + DEFAULT_TAIL
        self.clock, self.last_scan = start, start - FULL_SCAN_EVERY
        self.next_daily = start + REPLENISHMENT_EVERY
        self.result.started_at = start
        for event in ordered:
            if event.timestamp > end:
                break
            self.advance(event.timestamp)
            with self.engine.begin() as conn:
                outcome = ingest(conn, self.tenant, event, event.timestamp)
            if outcome.outcome == "stored":
                self.result.events += 1
                self.contacts_changed |= bool(outcome.effects & CONTACT_EFFECTS)
                self.orders_changed |= bool(outcome.effects & ORDER_EFFECTS)
        self.advance(end)
        self.result.ended_at = end
        return self.result


def simulate(
    engine: Engine,
    tenant: Tenant,
    events: Iterable[Event],
    until: datetime | None = None,
    subject: Subject | None = None,
) -> SimulationResult:
    """Replay ``events`` through the flows of ``tenant`` in ``engine`` (a scratch database).

    Returns the messages that would go out, in time order, and the counts of
    what the rules held back. ``subject(conn, tenant, message_row)`` gives
    each message's subject when the message composer is available.
    """
    result = _Simulation(engine, tenant, subject).run(events, until)
    result.messages.sort(key=lambda m: m.time)
    return result


def project(
    engine: Engine, tenant: Tenant, start: datetime, until: datetime, subject: Subject | None = None
) -> SimulationResult:
    """Run the flows of a tenant already stored in ``engine`` (a scratch copy) from ``start`` to ``until``.

    No new event: what the runs waiting at ``start``, the birthday scans and
    the replenishment refreshes would send.
    """
    simulation = _Simulation(engine, tenant, subject)
    simulation.clock, simulation.last_scan, simulation.next_daily = start, start - FULL_SCAN_EVERY, start
    simulation.result.started_at = start
    simulation.advance(until)
    simulation.result.ended_at = until
    simulation.result.messages.sort(key=lambda m: m.time)
    return simulation.result
