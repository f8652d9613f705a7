"""The ingestion pipeline: store an event, then let every area react to it.

``ingest`` is what webhooks, connectors, the tracker, imports and simulations
call, so that an event has the same consequences whatever road it came by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from core.attribution.attribute import react as attribution_react
from core.attribution.attribute import react_page as attribution_react_page
from core.flows.settings import tenant_flows
from core.flows.triggers import react as flows_react
from core.messages.optin import react as double_opt_in
from core.model import Event
from core.segments.reaction import owed as segments_owed
from core.segments.reaction import react as segments_react
from core.store.ingest import Ingested, analyze_grown, ingest_events, page_scope
from core.store.tenants import Tenant

#: A reaction runs in the same transaction as the event it reacts to, and returns the events
#: it leads to (a segment entered...), which the pipeline ingests in turn.
Reaction = Callable[[Connection, Tenant, Event, Ingested, datetime], list[Event]]
#: The same reaction to a whole page of stored events (each with what ingesting it did), run once.
PageReaction = Callable[[Connection, Tenant, list[tuple[Event, Ingested]], datetime], list[Event]]

#: The areas that react to stored events. Segments first: flows reacting to the same event then see
#: the contact's current segments. The attribution credits an order to a message (and leads to no event).
REACTIONS: tuple[Reaction, ...] = (segments_react, flows_react, double_opt_in, attribution_react)
#: In a backfill: the reactions run only for events newer than history (``history_before``), and
#: those that do not run at all: ``core.operations.finish_backfill`` recomputes the whole tenant at the end of
#: the run (every contact's metrics and segments), so that no contact enters or leaves a segment on the way
#: for a state that history had already left behind (a customer "at risk" until their later orders are read).
TIME_BOUND: frozenset[Reaction] = frozenset({flows_react})
#: Each deferred reaction with what records, in the page's transaction, that the run's end owes it (so that a run
#: interrupted before ``finish_backfill`` leaves the next periodic refresh to recompute every contact).
AT_END: dict[Reaction, Callable[[Connection, Tenant], None]] = {segments_react: segments_owed}
#: Reactions that give the same result run once for the whole page as after each event (they only read the
#: store, which the whole page has already changed, and write rows no other reaction reads): their page form.
PER_PAGE: dict[Reaction, PageReaction] = {attribution_react: attribution_react_page}


def reactions() -> tuple[Reaction, ...]:
    """The reactions the pipeline runs (the benchmarks replace this to measure the store alone)."""
    return REACTIONS


#: Follow-up events of follow-up events... stop here (a reaction never loops, but a bug must not hang).
MAX_DEPTH = 4


def ingest(conn: Connection, tenant: Tenant, event: Event, now: datetime) -> Ingested:
    """Store one event and run every reaction to it, then the events they lead to; a duplicate changes nothing.

    A page of one (``ingest_page``).
    """
    return ingest_page(conn, tenant, [event], now)[0]


def ingest_page(
    conn: Connection, tenant: Tenant, page: Iterable[Event], now: datetime, *, backfill: bool = False
) -> list[Ingested]:
    """Store a page of events set-based (``core.store.ingest.ingest_events``), then run every reaction to each
    stored event in order, then the events they lead to; return what each event did, in order.

    Reactions see the store as the whole page left it; the attribution runs once for the whole page
    (``PER_PAGE``). With ``backfill`` (a first sync, an import of past data) the events are history: an event
    older than every flow's horizon (``history_before``) starts and ends no run, the contacts' segments and
    metrics are left to ``core.operations.finish_backfill``, which the caller runs at the end of the run
    (``AT_END``), and the loaded tables' planner statistics follow the load (``analyze_grown``).
    """
    batch = list(page)
    if backfill:  # the planner's statistics follow a bulk load (``analyze_grown``)
        analyze_grown(conn)
    results = ingest_events(conn, tenant.id, tenant.config.platform.value, batch, now)
    with page_scope(conn, results):  # the reactions load their settings and models once per page
        if backfill:
            follow = _react_history(conn, tenant, batch, results, now)
        else:
            follow = _react(conn, tenant, batch, results, now)
    if follow:
        apply(conn, tenant, follow, now, depth=1)
    return results


def history_before(tenant: Tenant, now: datetime) -> datetime:
    """Events before this time are history for the tenant's flows: no flow starts a run for them (``begin``
    refuses a trigger older than the flow's horizon) and no run started since then is theirs to end."""
    flows = tenant_flows(tenant.config.flows)
    horizons = [definition.horizon for definition in flows.by_name.values()]
    return now - max(horizons, default=timedelta(0))


def _react_history(
    conn: Connection, tenant: Tenant, batch: list[Event], results: list[Ingested], now: datetime
) -> list[Event]:
    cutoff = history_before(tenant, now)
    running = reactions()
    each = [react for react in running if react not in AT_END and react not in PER_PAGE]
    follow: list[Event] = []
    stored: list[tuple[Event, Ingested]] = []
    for event, result in zip(batch, results, strict=True):
        if result.outcome != "stored":
            continue
        stored.append((event, result))
        history = event.timestamp < cutoff
        for react in each:
            if not (history and react in TIME_BOUND):
                follow.extend(react(conn, tenant, event, result, now))
    if stored:
        for react in running:
            if react in AT_END:
                AT_END[react](conn, tenant)
    follow.extend(_react_page(conn, tenant, running, stored, now))
    return follow


def _react(conn: Connection, tenant: Tenant, batch: list[Event], results: list[Ingested], now: datetime) -> list[Event]:
    running = reactions()
    each = [react for react in running if react not in PER_PAGE]
    stored = [(event, result) for event, result in zip(batch, results, strict=True) if result.outcome == "stored"]
    follow = [
        follow for event, result in stored for react in each for follow in react(conn, tenant, event, result, now)
    ]
    follow.extend(_react_page(conn, tenant, running, stored, now))
    return follow


def _react_page(
    conn: Connection,
    tenant: Tenant,
    running: tuple[Reaction, ...],
    stored: list[tuple[Event, Ingested]],
    now: datetime,
) -> list[Event]:
    """The reactions run once per page (``PER_PAGE``), after the others, in their order."""
    if not stored:
        return []
    return [follow for react in running if react in PER_PAGE for follow in PER_PAGE[react](conn, tenant, stored, now)]


def apply(conn: Connection, tenant: Tenant, events: Iterable[Event], now: datetime, depth: int = 0) -> int:
    """Ingest events that stored data or whole-tenant work led to (segment changes...); return how many were stored.

    Callers of work that returns follow-up events (``refresh_tenant``) hand them here.
    """
    batch = list(events)
    if not batch:
        return 0
    results = ingest_events(conn, tenant.id, tenant.config.platform.value, batch, now)
    stored = sum(1 for result in results if result.outcome == "stored")
    if depth < MAX_DEPTH:
        with page_scope(conn, results):
            follow = _react(conn, tenant, batch, results, now)
        stored += apply(conn, tenant, follow, now, depth + 1)
    return stored


@dataclass
class BatchReport:
    """Counts of what a batch of events did."""

    stored: int = 0
    duplicates: int = 0
    stale: int = 0
    by_name: dict[str, int] = field(default_factory=dict)

    def add(self, result: Ingested) -> None:
        if result.outcome == "duplicate":
            self.duplicates += 1
            return
        self.stored += 1
        if "stale" in result.effects:
            self.stale += 1
        if result.name:
            self.by_name[result.name] = self.by_name.get(result.name, 0) + 1

    def merge(self, other: BatchReport) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.stale += other.stale
        for name, count in other.by_name.items():
            self.by_name[name] = self.by_name.get(name, 0) + count


def ingest_batch(engine: Engine, tenant: Tenant, batch: Iterable[Event], clock: Callable[[], datetime]) -> BatchReport:
    """Ingest events in one transaction; on a database error, retry them one per transaction.

    The retry isolates the event that fails so that the others are kept; the
    error of that event is raised after the rest is stored.
    """
    events = list(batch)
    report = BatchReport()
    try:
        with engine.begin() as conn:
            for result in ingest_page(conn, tenant, events, clock()):
                report.add(result)
        return report
    except Exception:  # noqa: BLE001 - retried one by one below, then re-raised
        if len(events) == 1:
            raise
    report = BatchReport()
    failure: Exception | None = None
    for event in events:
        try:
            with engine.begin() as conn:
                report.add(ingest(conn, tenant, event, clock()))
        except Exception as exc:  # noqa: BLE001 - re-raised once the others are stored
            failure = failure or exc
    if failure is not None:
        raise failure
    return report
