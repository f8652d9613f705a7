"""Keep memberships current: a full refresh per tenant, and an incremental update per contact that acts.

The full refresh (periodic job, ``relance segments refresh``) computes every
segment set-based in SQL and compares it with the stored memberships in the
database, so only changes come back to Python. The incremental update
(``update_contact``, run by ``core.segments.reaction`` in the event's transaction) recomputes the one
contact's metrics and memberships.

Between two refreshes every event has re-settled its contact, so the hourly refresh of the
built-in segments recomputes only the contacts that time alone may have moved since the last
one (``builtin.moved_by_time``: an order or an engagement event crossing a window's edge, a
customer passing their at-risk threshold): a few index range scans instead of every contact's
orders and events. Every contact is recomputed, as a safety net, whenever the models are
refitted (``REFIT_AFTER``: at least daily) or every metric is (``metrics``), when asked
(``full``), after a change of definition, on the first refresh, after a backfill stored events
without settling their contacts (``owe_full_refresh``: an import or a first sync interrupted
before its end), or when time moved more than ``MOVED_LIMIT`` contacts. Rule-based segments
are recomputed in full every time.

A segment whose definition is new or changed is filled silently by the full
refresh (no events: a new segment must not trigger flows for every past
member at once); from then on every change is recorded as a
``segment_entered`` / ``segment_exited`` event, by both paths.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.model import Event
from core.scoring import ScoringSettings, scoring_settings
from core.segments.rules import referenced_segments
from core.segments.settings import BUILTIN_SEGMENTS, SegmentSettings, segment_settings
from core.segments.store import dialect as sql
from core.segments.store.builtin import (
    builtin_params,
    builtin_query,
    known_contact,
    moved_by_time,
    moved_params,
    segments_in_row,
    wanted_pairs,
)
from core.segments.store.changes import Change, change_events
from core.segments.store.compiler import Context, compile_rule
from core.segments.store.membership import segments_of
from core.segments.store.metrics import Models, add_score, count_customers, fit_models, get_models, refresh_metrics
from core.segments.store.schema import segment_members, segment_states
from core.store.schema import contacts
from core.store.tenants import Tenant
from core.store.types import UTCDateTime

log = logging.getLogger(__name__)

#: The purchase model and RFM breakpoints are refitted when older than this,
REFIT_AFTER = timedelta(hours=20)
#: or sooner when the number of customers changed by this share since the fit (or from none).
REFIT_CHANGE = 0.2
#: The built-in segments that hold every known customer (each in exactly one).
CUSTOMER_TYPOLOGIES = ("loyal_customer", "occasional_customer")
#: PostgreSQL memory per sort or hash for the full refresh (its transaction only).
REFRESH_WORK_MEM = "256MB"
#: The built-ins' ``segment_states.refreshed_at`` while a backfill owes them every contact's recomputation
#: (``owe_full_refresh``: events were stored without settling their contacts): a mark before ``OWED_UNTIL``,
#: a new one at each page, so that a refresh clears only a mark it saw before it read the data.
OWED = datetime(1970, 1, 1, tzinfo=UTC)
OWED_UNTIL = OWED + timedelta(days=30)
_OWED_MARKS = (OWED_UNTIL - OWED) // timedelta(microseconds=1) - 1
#: Beyond this many contacts moved by time since the last refresh (a long pause), every contact is recomputed:
#: one pass over everyone then costs less than looking each of them up.
MOVED_LIMIT = 20_000


@dataclass
class RefreshReport:
    """What a full refresh changed: changes per segment, segments filled silently, and the
    ``segment_entered`` / ``segment_exited`` events to record (``core.pipeline.apply``)."""

    entered: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    filled: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    metrics_written: int = 0
    refitted: bool = False
    events: list[Event] = field(default_factory=list)
    #: the contacts whose built-in segments were recomputed when only those time moved were (``moved_by_time``);
    #: None when every contact's were
    examined: int | None = None

    def add(self, changes: list[Change]) -> None:
        for change in changes:
            target = self.entered if change.entered else self.exited
            target[change.segment] = target.get(change.segment, 0) + 1


def _settings(tenant: Tenant) -> tuple[SegmentSettings, ScoringSettings]:
    return segment_settings(tenant.config.segments), scoring_settings(tenant.config.scoring)


def _context(conn: Connection, tenant: Tenant, settings: SegmentSettings, scoring: ScoringSettings, now: datetime,
             contact_id: int | None = None) -> Context:  # fmt: skip
    return Context(
        tenant_id=tenant.id,
        now=now,
        dialect=conn.dialect.name,
        timezone=tenant.config.timezone,
        abandoned_cart_minutes=settings.thresholds.abandoned_cart_minutes,
        half_life_days=scoring.half_life_days,
        contact_id=contact_id,
    )


def _states(conn: Connection, tenant_id: int) -> dict[str, str]:
    rows = conn.execute(
        select(segment_states.c.segment, segment_states.c.definition).where(segment_states.c.tenant_id == tenant_id)
    )
    return {segment: definition for segment, definition in rows}


def _insert_ignore(conn: Connection) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(segment_members)


def _sync(
    conn: Connection,
    tenant_id: int,
    segments: list[str],
    wanted: Any,
    loud: bool,
    now: datetime,
    params: dict[str, Any] | None = None,
    among: bool = False,
) -> list[Change]:
    """Make the stored members of ``segments`` those of ``wanted`` (segment, contact_id); return the changes.

    A silent sync (first fill) writes set-based and returns nothing; a loud one
    returns every change, to be recorded as events. With ``among`` (loud only), ``wanted`` holds only the
    contacts of the parameter ``among`` (``dialect.among``) and only their stored members are compared.
    """
    members = segment_members
    assert loud or not among
    mine = [members.c.tenant_id == tenant_id, members.c.segment.in_(segments)]
    if among:
        mine.append(sql.among(conn.dialect.name, members.c.contact_id))
    w = wanted.cte("wanted")
    is_member = exists(
        select(literal(1)).where(
            members.c.tenant_id == tenant_id,
            members.c.segment == w.c.segment,
            members.c.contact_id == w.c.contact_id,
        )
    )
    is_wanted = exists(
        select(literal(1))
        .select_from(w)
        .where(w.c.segment == members.c.segment, w.c.contact_id == members.c.contact_id)
    )
    stale = and_(*mine, ~is_wanted)
    if not loud:
        # No anti-join against the table being filled (a nested loop over a growing table is
        # quadratic): existing members are skipped by the primary key instead.
        fill = select(literal(tenant_id), w.c.segment, w.c.contact_id, literal(now, members.c.entered_at.type))
        fill = fill.where(true())  # SQLite reads "INSERT ... SELECT ... ON CONFLICT" only after a WHERE
        stored = select(literal(1)).where(members.c.tenant_id == tenant_id, members.c.segment.in_(segments)).limit(1)
        columns = ["tenant_id", "segment", "contact_id", "entered_at"]
        if conn.execute(stored).first() is None:
            # A first fill: nothing to delete nor to skip (the wanted pairs are distinct), a plain insert.
            conn.execute(members.insert().from_select(columns, fill), params or {})
            return []
        conn.execute(delete(members).where(stale), params or {})
        conn.execute(_insert_ignore(conn).from_select(columns, fill).on_conflict_do_nothing(), params or {})
        return []
    if conn.dialect.name == "postgresql":
        # One hash full join of the wanted pairs with the stored ones (rather than two anti-joins,
        # each hashing one side again): the pairs found on one side only are the changes.
        stored = select(members.c.segment, members.c.contact_id).where(*mine).subquery("stored")
        both = w.outerjoin(
            stored, and_(stored.c.segment == w.c.segment, stored.c.contact_id == w.c.contact_id), full=True
        )
        diff = (
            select(
                func.coalesce(w.c.segment, stored.c.segment).label("segment"),
                func.coalesce(w.c.contact_id, stored.c.contact_id).label("contact_id"),
                case((stored.c.contact_id.is_(None), 1), else_=0).label("entered"),
            )
            .select_from(both)
            .where(or_(w.c.contact_id.is_(None), stored.c.contact_id.is_(None)))
        )
    else:
        missing = select(w.c.segment, w.c.contact_id, literal(1).label("entered")).where(~is_member)
        extra = select(members.c.segment, members.c.contact_id, literal(0).label("entered")).where(stale)
        diff = union_all(missing, extra)
    rows = conn.execute(diff, params or {}).all()
    # entries first, then exits (as the two anti-joins gave them)
    changes = [Change(row.segment, row.contact_id, True) for row in rows if row.entered]
    changes += [Change(row.segment, row.contact_id, False) for row in rows if not row.entered]
    _apply(conn, tenant_id, changes, now)
    return changes


def _apply(conn: Connection, tenant_id: int, changes: list[Change], now: datetime) -> None:
    rows = [
        {"tenant_id": tenant_id, "segment": c.segment, "contact_id": c.contact_id, "entered_at": now}
        for c in changes
        if c.entered
    ]
    if rows:
        conn.execute(_insert_ignore(conn).on_conflict_do_nothing(), rows)
    exits = [{"exit_segment": c.segment, "exit_contact": c.contact_id} for c in changes if not c.entered]
    if exits:  # one statement, executed for every exit (pipelined by psycopg)
        conn.execute(
            delete(segment_members).where(
                segment_members.c.tenant_id == tenant_id,
                segment_members.c.segment == bindparam("exit_segment"),
                segment_members.c.contact_id == bindparam("exit_contact"),
            ),
            exits,
        )


def ensure_models(
    conn: Connection, tenant: Tenant, now: datetime, refit: bool = False
) -> tuple[Models, dict[str, Any] | None]:
    """The tenant's fitted models, refitted (with every contact's metrics) when missing, stale or asked; and
    when refitted, the customers' histories they were fitted on (``fit_models``), else None."""
    _, scoring = _settings(tenant)
    models = get_models(conn, tenant.id)
    stale = (
        models is None
        or models.scoring != scoring.fingerprint
        or models.fitted_at is None
        or now - models.fitted_at > REFIT_AFTER
    )
    if not (refit or stale) and models is not None and models.customers is not None:
        # the data changed enough: RFM quintiles fitted on an empty (or much smaller) shop are refitted now
        settings = segment_settings(tenant.config.segments)
        states = _states(conn, tenant.id)
        maintained = all(states.get(name) == settings.definition(name) for name in CUSTOMER_TYPOLOGIES)
        customers = count_customers(conn, tenant.id, CUSTOMER_TYPOLOGIES if maintained else ())
        stale = abs(customers - models.customers) > REFIT_CHANGE * max(models.customers, 1) or (
            models.customers == 0 and customers > 0
        )
    if not (refit or stale):
        assert models is not None
        return models, None
    return fit_models(conn, tenant.id, now, scoring)


def refresh_tenant(
    conn: Connection, tenant: Tenant, now: datetime, metrics: bool = False, full: bool = False
) -> RefreshReport:
    """Recompute every segment of the tenant (and, with ``metrics``, every contact's metrics).

    The built-in segments of only the contacts time moved since the last refresh, unless ``full``, ``metrics``,
    a refit or the segments' state ask for everyone's (the module's docstring). The changes' events are in
    ``report.events``, for the caller to apply (``core.operations.refresh_segments`` does both).
    """
    settings, scoring = _settings(tenant)
    report = RefreshReport()
    # read before any of the data: a backfill's mark written after it stays
    rows = conn.execute(
        select(segment_states.c.segment, segment_states.c.definition, segment_states.c.refreshed_at).where(
            segment_states.c.tenant_id == tenant.id
        )
    ).all()
    states = {segment: definition for segment, definition, _ in rows}
    seen = {segment: at for segment, _, at in rows}
    if conn.dialect.name == "postgresql":
        # Whole-tenant aggregates: hash them in memory rather than walk an index in random order.
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{REFRESH_WORK_MEM}'")
        conn.exec_driver_sql("SET LOCAL jit = off")
        # A parallel plan of these statements repeats every hash aggregate in each worker (only the
        # scan of the contacts is shared): more work for no gain.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        # The customers' histories and figures are streamed (a server-side cursor) but read to the end: plan
        # them for the whole result, not for the first tenth (an index walk in contact order, twice as slow
        # as the hash aggregate over a scan).
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1")
    models, histories = ensure_models(conn, tenant, now)
    report.refitted = histories is not None
    if metrics or report.refitted:
        report.metrics_written = refresh_metrics(conn, tenant.id, now, models, scoring, histories=histories)
    dialect = conn.dialect.name
    changes: list[Change] = []

    def sync(names: list[str], wanted: Any, params: dict[str, Any] | None = None, among: bool = False) -> None:
        """Sync ``names`` with ``wanted`` (segment, contact_id), which yields no other segment (``among``: see
        ``_sync``; only when every one of ``names`` is maintained)."""
        loud = [n for n in names if states.get(n) == settings.definition(n)]
        quiet = [n for n in names if n not in loud]
        for group, is_loud in ((loud, True), (quiet, False)):
            if group:
                selected = wanted.subquery()
                only = select(selected.c.segment, selected.c.contact_id)
                if len(group) < len(names):
                    # ``wanted`` yields only ``names``: when the group is all of them (the steady state) the
                    # filter is a no-op, a text comparison per wanted pair for nothing
                    only = only.where(selected.c.segment.in_(group))
                changes.extend(_sync(conn, tenant.id, group, only, is_loud, now, params, among))
        report.filled.extend(quiet)

    engagement = settings.thresholds.engagement_events
    params = builtin_params(tenant.id, now, settings.thresholds, models.purchase)
    moved = None if full or metrics or report.refitted else _moved(conn, tenant.id, settings, models, states, seen, now)
    if moved is None:
        sync(list(BUILTIN_SEGMENTS), wanted_pairs(builtin_query(dialect, engagement), dialect), params)
    else:
        report.examined = len(moved)
        if moved:
            params["among"] = sql.among_value(dialect, moved)
            wanted = wanted_pairs(builtin_query(dialect, engagement, among=True), dialect)
            sync(list(BUILTIN_SEGMENTS), wanted, params, among=True)
    for name, node in settings.rules:
        condition = compile_rule(node, _context(conn, tenant, settings, scoring, now))
        wanted = select(literal(name).label("segment"), contacts.c.id.label("contact_id")).where(
            contacts.c.tenant_id == tenant.id, known_contact(), condition
        )
        sync([name], wanted)
    if report.filled and dialect == "postgresql":
        conn.exec_driver_sql("ANALYZE segment_members")  # fresh statistics for the next refresh's plans
    gone = sorted(set(states) - set(settings.names))
    if gone:
        conn.execute(
            delete(segment_members).where(segment_members.c.tenant_id == tenant.id, segment_members.c.segment.in_(gone))
        )
        conn.execute(
            delete(segment_states).where(segment_states.c.tenant_id == tenant.id, segment_states.c.segment.in_(gone))
        )
        report.dropped = gone
    _mark_refreshed(conn, tenant.id, settings, seen, now)
    report.events = change_events(conn, tenant, changes, now)
    report.add(changes)
    return report


def _mark_refreshed(
    conn: Connection, tenant_id: int, settings: SegmentSettings, seen: dict[str, datetime], now: datetime
) -> None:
    """Record each segment's definition and ``now``; a backfill's mark this refresh did not see when it started
    (``seen``: written since, by a page whose events it may have missed) stays, for the next refresh."""
    insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(segment_states)
    stored = segment_states.c.refreshed_at
    seen_at: Any = literal(None, UTCDateTime)
    if seen:
        seen_at = case({name: literal(at, UTCDateTime) for name, at in seen.items()}, value=segment_states.c.segment)
    unseen_mark = and_(stored < literal(OWED_UNTIL, UTCDateTime), stored.is_distinct_from(seen_at))
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["tenant_id", "segment"],
            set_={
                "definition": insert.excluded.definition,
                "refreshed_at": case((unseen_mark, stored), else_=insert.excluded.refreshed_at),
            },
        ),
        [
            {"tenant_id": tenant_id, "segment": name, "definition": settings.definition(name), "refreshed_at": now}
            for name in settings.names
        ],
    )


def _moved(
    conn: Connection,
    tenant_id: int,
    settings: SegmentSettings,
    models: Models,
    states: dict[str, str],
    seen: dict[str, datetime],
    now: datetime,
) -> list[int] | None:
    """The contacts whose built-in segments time alone may have moved since the last refresh
    (``builtin.moved_by_time``), or None when every contact must be recomputed: a built-in not yet filled with
    its current definition, no refresh before (or one after ``now``), a backfill owing it (``OWED``), models
    fitted since, or more than ``MOVED_LIMIT`` contacts moved."""
    if any(states.get(name) != settings.definition(name) for name in BUILTIN_SEGMENTS):
        return None
    last = min(seen[name] for name in BUILTIN_SEGMENTS)
    if last < OWED_UNTIL or last > now or models.fitted_at is None or models.fitted_at > last:
        return None
    found = moved_by_time(conn.dialect.name, settings.thresholds.engagement_events).subquery()
    ids = (
        conn.execute(
            select(found.c.contact_id).limit(MOVED_LIMIT + 1), moved_params(tenant_id, last, now, settings.thresholds)
        )
        .scalars()
        .all()
    )
    return None if len(ids) > MOVED_LIMIT else sorted(ids)


def owe_full_refresh(conn: Connection, tenant_id: int) -> None:
    """Make the tenant's next refresh recompute every contact's built-in segments: events were stored without
    settling their contacts (a backfill's pages, before its ``finish_backfill``). A new mark each time (a refresh
    running meanwhile clears only the mark it saw before reading the data: ``_mark_refreshed``)."""
    mark = OWED + timedelta(microseconds=1 + secrets.randbelow(_OWED_MARKS))
    conn.execute(_OWE, {"b_tenant": tenant_id, "b_mark": mark})


#: ``owe_full_refresh``'s statement, built once: it runs once per page of a backfill.
_OWE = (
    update(segment_states)
    .where(segment_states.c.tenant_id == bindparam("b_tenant"), segment_states.c.segment.in_(BUILTIN_SEGMENTS))
    .values(refreshed_at=bindparam("b_mark", type_=UTCDateTime))
)


def _levels(settings: SegmentSettings) -> list[list[tuple[str, Any]]]:
    """Rules grouped so that each group refers only to built-ins and earlier groups."""
    level: dict[str, int] = {}
    for name, node in settings.rules:  # already ordered after what they refer to
        refs = [level[r] for r in referenced_segments(node) if r in level]
        level[name] = 1 + max(refs, default=-1)
    grouped: list[list[tuple[str, Any]]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for name, node in settings.rules:
        grouped[level[name]].append((name, node))
    return grouped


#: Effects of an event that change a contact's orders, or the contact itself: its metrics are recomputed.
RECOMPUTE_EFFECTS = frozenset(
    {"contact_created", "contact_merged", "order_created", "order_changed", "order_status", "order_paid"}
)


def update_contact(
    conn: Connection,
    tenant: Tenant,
    contact_id: int,
    now: datetime,
    event: Event | None = None,
    effects: frozenset[str] = frozenset(),
    *,
    models: Models | None = None,
) -> list[Change]:
    """Recompute one contact's metrics and memberships after ``event``; return the changes.

    An event that touches no order only adds its points to the stored score;
    otherwise (or without an event) every metric of the contact is recomputed.
    Does nothing before the tenant's first full refresh (no models yet); a
    segment is kept current only once a full refresh filled it with its
    current definition.
    """
    settings, scoring = _settings(tenant)
    if models is None:  # else loaded once for a page of events by the caller
        models = get_models(conn, tenant.id)
    if models is None:
        return []
    known = conn.execute(
        select(known_contact()).where(contacts.c.tenant_id == tenant.id, contacts.c.id == contact_id)
    ).scalar()
    current = segments_of(conn, tenant.id, contact_id)
    if not known:
        if current:  # no longer reachable: out of every segment, silently (no identity to name them by)
            conn.execute(
                delete(segment_members).where(
                    segment_members.c.tenant_id == tenant.id, segment_members.c.contact_id == contact_id
                )
            )
        return []
    points = scoring.points_of(event.name) if event is not None and event.name != "order_updated" else 0.0
    if event is None or effects & RECOMPUTE_EFFECTS or models.scoring != scoring.fingerprint:
        refresh_metrics(conn, tenant.id, now, models, scoring, contact_id=contact_id)
    elif points > 0 and not add_score(conn, tenant.id, contact_id, points, event.timestamp, scoring.half_life_days):
        refresh_metrics(conn, tenant.id, now, models, scoring, contact_id=contact_id)
    states = _states(conn, tenant.id)
    maintained = {name for name in settings.names if states.get(name) == settings.definition(name)}
    changes: list[Change] = []

    def settle(names: set[str], wanted: set[str]) -> None:
        found = [Change(n, contact_id, True) for n in sorted((wanted - current) & names)]
        found += [Change(n, contact_id, False) for n in sorted((current - wanted) & names)]
        _apply(conn, tenant.id, found, now)
        current.difference_update(c.segment for c in found if not c.entered)
        current.update(c.segment for c in found if c.entered)
        changes.extend(found)

    builtin_names = set(BUILTIN_SEGMENTS) & maintained
    if builtin_names:
        query = builtin_query(conn.dialect.name, settings.thresholds.engagement_events, scoped=True)
        params = builtin_params(tenant.id, now, settings.thresholds, models.purchase, contact_id)
        row = conn.execute(query, params).first()
        settle(builtin_names, segments_in_row(row) if row else set())
    ctx = _context(conn, tenant, settings, scoring, now, contact_id)
    for group in _levels(settings):
        rules = [(name, node) for name, node in group if name in maintained]
        if not rules:
            continue
        columns = [compile_rule(node, ctx).label(f"r{i}") for i, (_, node) in enumerate(rules)]
        row = conn.execute(select(*columns).where(contacts.c.tenant_id == tenant.id, contacts.c.id == contact_id)).one()
        settle({name for name, _ in rules}, {name for i, (name, _) in enumerate(rules) if row[i]})
    return changes
