"""Run the production flows over a file of events with a simulated clock.

The clock starts at the first event and moves from one thing to do to the
next: an event to ingest (``core.pipeline.ingest``, so the flows react as in
production), a run due (claimed and evaluated by ``core.flows.engine``, the
code the RQ step job runs), the flows' periodic work (``core.flows.registry``:
the hourly date scan, the daily replenishment refresh... what the periodic
jobs run), the segments' refresh (``core.operations.refresh_segments``, as the
hourly job: contacts entering a segment as time passes start the flows
triggered by it), the work of the agendas handed in (campaigns: their starts,
their due recipients), a message due. Delivery is
faked: at its time a message is marked sent (or suppressed if the contact
withdrew consent meanwhile); nothing leaves the machine. The engine given must
be a scratch database holding the tenant, never the production one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from core import normalize
from core.flows.config import TenantFlows
from core.flows.engine import process_runs
from core.flows.model import TriggerKind
from core.flows.plugin import PeriodicWork
from core.flows.registry import periodic_work
from core.flows.rules import consent_given
from core.flows.settings import tenant_flows
from core.flows.store.queries import due_messages, next_scheduled_message, settle_message
from core.flows.store.runs import claim_due_runs, next_due_at
from core.model import Channel, Event
from core.operations import refresh_segments
from core.pipeline import ingest
from core.store.tenants import Tenant

#: After the last event, the simulation runs this long by default.
DEFAULT_TAIL = timedelta(days=30)
_BATCH = 500

Subject = Callable[[Connection, Tenant, Any], str | None]


@dataclass(frozen=True)
class Agenda:
    """Work outside the flows that the simulated clock drives at the times it asks for (the campaigns).

    ``next_due(conn, tenant, now)``: when it next has something to do (None: nothing);
    ``run(conn, tenant, now)``: one pass, in its own transaction, returning its outcomes
    and whether more is due at once.
    """

    name: str
    next_due: Callable[[Connection, Tenant, datetime], datetime | None]
    run: Callable[[Connection, Tenant, datetime], tuple[Counter[str], bool]]


def _refresh_segments(conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime, lookahead: timedelta) -> int:
    """Production's segment refresh: the entries it records start the segment-triggered flows. Entries caused
    by events are recorded as each event is stored; this catches those caused by time alone (``at_risk``...).
    Skipped when no flow listens to segments (triggered by one, or a built-in flow given a ``segment``)."""
    listening = any(d.trigger.kind is TriggerKind.SEGMENT for d in flows.by_name.values()) or any(
        getattr(flows.settings.builtin.get(name), "segment", None) for name in flows.by_name
    )
    if not listening:
        return 0
    report = refresh_segments(conn, tenant, now)
    return sum(report.entered.values())


#: Production refreshes every segment hourly (and refits the models daily); what only time changes moves
#: by days and weeks, so the simulation refreshes once a simulated week: a year of events costs 52 refreshes.
SEGMENT_REFRESH = PeriodicWork("segments", timedelta(days=7), _refresh_segments, idle_every=timedelta(days=7))


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
    """The simulated clock and the flows' periodic work, done when it can change something.

    Each periodic work runs at its cadence after an event that can matter to it
    (``wakes_on``) was stored, and at its idle cadence otherwise (looking that
    much further ahead): the scans skipped are the ones that would have found
    nothing new.
    """

    def __init__(self, engine: Engine, tenant: Tenant, subject: Subject | None, agendas: Sequence[Agenda] = ()) -> None:
        self.engine = engine
        self.tenant = tenant
        self.flows = tenant_flows(tenant.config.flows)
        self.subject = subject
        self.result = SimulationResult()
        self.clock = datetime.min.replace(tzinfo=UTC)
        self.works: tuple[PeriodicWork, ...] = (SEGMENT_REFRESH, *periodic_work())
        self.agendas = tuple(agendas)
        self.next_at: dict[str, datetime] = {}
        self.last_run: dict[str, datetime] = {}
        self.woken: dict[str, bool] = {work.name: True for work in self.works}

    def start(self, at: datetime, immediately: bool = False) -> None:
        """Start the clock at ``at``. Periodic work runs on its cadence from there (as the periodic jobs
        would), at once for the scans that also run when idle, or for all with ``immediately``."""
        self.clock = at
        for work in self.works:
            first = at if immediately or work.idle_every is not None else at + work.every
            self.next_at[work.name] = first
            self.last_run[work.name] = at - (work.idle_every or work.every)
        for agenda in self.agendas:  # a first pass at the start (the campaigns of the tenant file brought in)
            self.run_agenda(agenda, at)

    def run_agenda(self, agenda: Agenda, now: datetime) -> None:
        """Passes of ``agenda`` at ``now`` until it has no more due at once."""
        for _ in range(10_000):
            with self.engine.begin() as conn:
                outcomes, more = agenda.run(conn, self.tenant, now)
            self.result.outcomes.update(outcomes)
            if not more:
                return

    def _next_work(self, work: PeriodicWork) -> datetime | None:
        due = [self.next_at[work.name]] if self.woken[work.name] else []
        if work.idle_every is not None:
            due.append(self.last_run[work.name] + work.idle_every)
        return min(due, default=None)

    def advance(self, target: datetime) -> None:
        """Do everything due up to ``target``, in time order."""
        while True:
            with self.engine.connect() as conn:
                run_due = next_due_at(conn, self.tenant.id)
                message_due = next_scheduled_message(conn, self.tenant.id)
                agendas = [agenda.next_due(conn, self.tenant, self.clock) for agenda in self.agendas]
            works = [self._next_work(work) for work in self.works]
            candidates = [t for t in (run_due, message_due, *works, *agendas) if t is not None]
            upcoming = min(candidates)
            if upcoming > target:
                break
            now = max(upcoming, self.clock)
            for agenda, due in zip(self.agendas, agendas, strict=True):
                if due is not None and due <= now:
                    self.run_agenda(agenda, now)
            self.tick(
                now,
                runs=run_due is not None and run_due <= now,
                mail=(message_due is not None and message_due <= now)
                or any(a is not None and a <= now for a in agendas),
            )
        self.clock = max(self.clock, target)

    def tick(self, now: datetime, runs: bool, mail: bool) -> None:
        self.clock = now
        for work in self.works:
            due = self._next_work(work)
            if due is not None and due <= now:
                with self.engine.begin() as conn:
                    work.run(conn, self.tenant, self.flows, now, work.idle_every or timedelta(0))
                self.last_run[work.name], self.woken[work.name] = now, False
            while self.next_at[work.name] <= now:
                self.next_at[work.name] += work.every
        while runs:
            with self.engine.begin() as conn:
                due_runs = claim_due_runs(conn, now, _BATCH, tenant_id=self.tenant.id)
                if due_runs:
                    report = process_runs(conn, self.tenant, [run.id for run in due_runs], now)
                    self.result.outcomes.update(report.outcomes)
            runs = bool(due_runs)
            mail = True
        if mail:
            self.send_due(now)

    def send_due(self, now: datetime) -> None:
        """The fake transport: every message due is sent, unless consent was withdrawn meanwhile."""
        with self.engine.begin() as conn:
            for row in due_messages(conn, self.tenant.id, now):
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
                settle_message(conn, row.id, status, reason, row.due_at, now)

    def stored(self, effects: frozenset[str]) -> None:
        """An event was stored: wake the periodic work it can matter to."""
        for work in self.works:
            if effects & work.wakes_on:
                self.woken[work.name] = True

    def run(self, events: Iterable[Event], until: datetime | None) -> SimulationResult:
        ordered = sorted(events, key=lambda e: e.timestamp)
        if not ordered:
            return self.result
        start = ordered[0].timestamp
        end = until or ordered[-1].timestamp + DEFAULT_TAIL
        self.start(start)
        self.result.started_at = start
        for event in ordered:
            if event.timestamp > end:
                break
            self.advance(event.timestamp)
            with self.engine.begin() as conn:
                outcome = ingest(conn, self.tenant, event, event.timestamp)
            if outcome.outcome == "stored":
                self.result.events += 1
                self.stored(outcome.effects)
        self.advance(end)
        self.result.ended_at = end
        return self.result


def simulate(
    engine: Engine,
    tenant: Tenant,
    events: Iterable[Event],
    until: datetime | None = None,
    subject: Subject | None = None,
    agendas: Sequence[Agenda] = (),
) -> SimulationResult:
    """Replay ``events`` through the flows of ``tenant`` in ``engine`` (a scratch database).

    Returns the messages that would go out, in time order, and the counts of
    what the rules held back. ``subject(conn, tenant, message_row)`` gives
    each message's subject when the message composer is available.
    """
    result = _Simulation(engine, tenant, subject, agendas).run(events, until)
    result.messages.sort(key=lambda m: m.time)
    return result


def project(
    engine: Engine,
    tenant: Tenant,
    start: datetime,
    until: datetime,
    subject: Subject | None = None,
    agendas: Sequence[Agenda] = (),
) -> SimulationResult:
    """Run the flows of a tenant already stored in ``engine`` (a scratch copy) from ``start`` to ``until``.

    No new event: what the runs waiting at ``start``, the birthday scans and
    the replenishment refreshes would send.
    """
    simulation = _Simulation(engine, tenant, subject, agendas)
    simulation.start(start, immediately=True)
    simulation.result.started_at = start
    simulation.advance(until)
    simulation.result.ended_at = until
    simulation.result.messages.sort(key=lambda m: m.time)
    return simulation.result
