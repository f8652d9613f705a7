"""Run a sync: fetch what changed from a shop and store it, page by page, resumable.

``run_sync`` takes the tenant's lease (``connectors.lease``), then for each
resource reads the saved cursor (or none with ``full``, or
``connector.cursor_since(since)``), and stores each page's events through
``core.pipeline.ingest_page`` (pages read from the start are history: ``backfill``) in one transaction with the page's cursor and a
lease renewal. A sync killed half-way therefore resumes after the last stored
page: nothing lost, and what is fetched again is a duplicate event that
changes nothing.

A record that cannot be mapped is skipped by the connector (``Page.skipped``);
an event the store refuses (a value too long for a column, say) is skipped
here: the page is then stored one event per transaction, the failing one is
logged with its message id and counted, and the rest is kept. Errors that
say the database itself is unwell are raised, never counted as skips.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError

from connectors.base import Connector, Page, Resource, Skipped
from connectors.cursors import get_cursor, save_cursor
from connectors.errors import ConnectorAuthError, ConnectorError, SyncLockedError
from connectors.lease import LEASE, claim_lease, new_owner, release_lease, renew_lease
from connectors.prefetch import PRODUCERS, ForkedPrefetch, Prefetch
from core.errors import ConfigError, EventError
from core.model import Event
from core.operations import finish_backfill
from core.pipeline import ingest_page
from core.store.ingest import Ingested, stored_message_ids
from core.store.tenants import Tenant

log = logging.getLogger(__name__)

MAX_SKIPPED_IDS = 20
_SYSTEMIC = (OperationalError, InterfaceError, DisconnectionError)


@dataclass
class ResourceStats:
    """What a sync did to one resource. ``unchanged`` counts states already stored (duplicates and
    older states); ``skipped`` records that could not be mapped or stored."""

    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    pages: int = 0
    skipped_ids: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "pages": self.pages,
            "skipped_ids": list(self.skipped_ids),
            "error": self.error,
        }


@dataclass
class SyncReport:
    """The outcome of one sync of one tenant, per resource in the order they were synced."""

    tenant: str
    started_at: datetime
    finished_at: datetime | None = None
    resources: dict[Resource, ResourceStats] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(stats.error is None for stats in self.resources.values())

    def totals(self) -> ResourceStats:
        total = ResourceStats()
        for stats in self.resources.values():
            for name in ("fetched", "created", "updated", "unchanged", "skipped", "pages"):
                setattr(total, name, getattr(total, name) + getattr(stats, name))
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "ok": self.ok,
            "resources": {resource.value: stats.as_dict() for resource, stats in self.resources.items()},
        }


#: ``progress(resource, stats, done)``: called after every stored page and once when a resource is done.
Progress = Callable[[Resource, ResourceStats, bool], None]

# A WooCommerce checkout draft is read with the orders but stored as a cart.
_CREATED = {
    Resource.ORDERS: frozenset({"order_created", "cart_created"}),
    Resource.CARTS: frozenset({"cart_created"}),
    Resource.PRODUCTS: frozenset({"product_created"}),
    Resource.CUSTOMERS: frozenset({"contact_created"}),
}
_UPDATED = {
    Resource.ORDERS: frozenset({"order_changed", "cart_changed"}),
    Resource.CARTS: frozenset({"cart_changed"}),
    Resource.PRODUCTS: frozenset({"product_changed"}),
    Resource.CUSTOMERS: frozenset({"profile", "consent", "contact_merged"}),
}


def count_result(stats: ResourceStats, resource: Resource, result: Ingested) -> None:
    """Count one ingested event as created, updated or unchanged for ``resource``."""
    effects = result.effects
    if result.outcome == "duplicate" or "stale" in effects:
        stats.unchanged += 1
    elif effects & _CREATED[resource]:
        stats.created += 1
    elif effects & _UPDATED[resource]:
        stats.updated += 1
    else:
        stats.unchanged += 1


def _rank(resource: Resource, result: Ingested) -> int:
    """0 unchanged, 1 updated, 2 created: what one event did (see ``count_result``)."""
    probe = ResourceStats()
    count_result(probe, resource, result)
    return 2 if probe.created else 1 if probe.updated else 0


def count_page(stats: ResourceStats, resource: Resource, page: Page, results: list[Ingested | None]) -> None:
    """Count each record of a stored page once: created if one of its events created something,
    else updated if one changed something, else unchanged; skipped if the store refused one of its
    events. ``results`` is aligned with ``page.events`` (None: refused by the store)."""
    groups = page.groups if page.groups is not None else [1] * len(page.events)
    position = 0
    for size in groups:
        chunk = results[position : position + size]
        position += size
        if any(result is None for result in chunk):
            stats.skipped += 1
            continue
        rank = max((_rank(resource, result) for result in chunk if result is not None), default=0)
        if rank == 2:
            stats.created += 1
        elif rank == 1:
            stats.updated += 1
        else:
            stats.unchanged += 1
    # records read but not mapped nor skipped (none today) still count once
    stats.unchanged += max(0, page.fetched - len(page.skipped) - len(groups))


def _skip(tenant: Tenant, stats: ResourceStats, skipped: Skipped, count: bool = True) -> None:
    if count:
        stats.skipped += 1
    if len(stats.skipped_ids) < MAX_SKIPPED_IDS:
        stats.skipped_ids.append(skipped.record_id)
    log.warning("tenant %s: %s %s skipped: %s", tenant.name, skipped.resource.value, skipped.record_id, skipped.reason)


def _record_specific(exc: BaseException) -> bool:
    """True for an error that one event causes (bad value), False for the database being unwell."""
    if isinstance(exc, _SYSTEMIC):
        return False
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return False
    return isinstance(exc, SQLAlchemyError | ValueError | EventError)


@dataclass
class _Store:
    """Stores pages for one sync run (holding the lease)."""

    engine: Engine
    tenant: Tenant
    owner: str
    clock: Callable[[], datetime]
    lease: Any = LEASE
    #: Resources read from the start (no cursor): their pages are history (``ingest_page(backfill=True)``).
    history: set[Resource] = field(default_factory=set)
    #: History resources a page of which found none of its events stored: their next pages are not looked
    #: up first (a first sync's pages are new; a duplicate is still told by the store, which ignores it).
    unseen: set[Resource] = field(default_factory=set)

    def page(self, resource: Resource, page: Page, stats: ResourceStats) -> None:
        stats.pages += 1
        stats.fetched += page.fetched
        for skipped in page.skipped:
            _skip(self.tenant, stats, skipped)
        try:
            results = self._in_one_transaction(resource, page)
        except SyncLockedError:
            raise
        except Exception as exc:
            if not _record_specific(exc) or not page.events:
                raise
            log.warning(
                "tenant %s: a %s page could not be stored at once (%s); storing it event by event",
                self.tenant.name,
                resource.value,
                type(exc).__name__,
            )
            results = self._one_by_one(resource, page, stats)
        count_page(stats, resource, page, results)

    def _in_one_transaction(self, resource: Resource, page: Page) -> list[Ingested | None]:
        with self.engine.begin() as conn:
            renew_lease(conn, self.tenant.id, self.tenant.name, self.owner, self.clock(), self.lease)
            known = set() if resource in self.unseen else _stored_message_ids(conn, self.tenant.id, page.events)
            if resource in self.history and page.events and not known:
                self.unseen.add(resource)
            fresh = [event for event in page.events if event.message_id not in known]
            backfill = resource in self.history
            stored = iter(ingest_page(conn, self.tenant, fresh, self.clock(), backfill=backfill) if fresh else ())
            results = [_DUPLICATE if event.message_id in known else next(stored) for event in page.events]
            if page.cursor is not None:
                save_cursor(conn, self.tenant.id, resource, page.cursor, self.clock())
        return results

    def _one_by_one(self, resource: Resource, page: Page, stats: ResourceStats) -> list[Ingested | None]:
        results: list[Ingested | None] = []
        for event in page.events:
            try:
                with self.engine.begin() as conn:
                    renew_lease(conn, self.tenant.id, self.tenant.name, self.owner, self.clock(), self.lease)
                    backfill = resource in self.history
                    results.extend(ingest_page(conn, self.tenant, [event], self.clock(), backfill=backfill))
            except SyncLockedError:
                raise
            except Exception as exc:
                if not _record_specific(exc):
                    raise
                reason = f"the store refused it ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
                _skip(
                    self.tenant, stats, Skipped(resource, event.message_id, reason), count=False
                )  # counted per record
                results.append(None)
        if page.cursor is not None:
            with self.engine.begin() as conn:
                renew_lease(conn, self.tenant.id, self.tenant.name, self.owner, self.clock(), self.lease)
                save_cursor(conn, self.tenant.id, resource, page.cursor, self.clock())
        return results


_DUPLICATE = Ingested(outcome="duplicate")


def _stored_message_ids(conn: Connection, tenant_id: int, batch: list[Event]) -> set[str]:
    """The message ids of a page already stored: one query instead of one failed insert per event
    (a ``--full`` sync or the daily customer scan re-reads mostly known states)."""
    return stored_message_ids(conn, tenant_id, [event.message_id for event in batch])


#: Where a sync's next pages are downloaded and mapped while the current one is stored, unless ``run_sync``
#: is told (``relance.settings``: RELANCE_SYNC_PRODUCER): "process" (a forked child,
#: ``connectors.prefetch.ForkedPrefetch``: another core; Linux only, where forking is safe) or "thread"
#: (``Prefetch``: the same core as the store).
PRODUCER = "process" if sys.platform.startswith("linux") else "thread"


def _producer(name: str) -> type[Prefetch[Page]] | type[ForkedPrefetch[Page]]:
    if name not in PRODUCERS:
        raise ValueError(f"a sync's producer is one of {PRODUCERS}, not {name!r}")
    if name == "process" and not multiprocessing.current_process().daemon:  # a daemon may not fork children
        return ForkedPrefetch
    return Prefetch


def _resources(connector: Connector, wanted: Iterable[Resource] | None) -> list[Resource]:
    available = connector.resources()
    if wanted is None:
        return list(available)
    chosen = list(dict.fromkeys(wanted))
    for resource in chosen:
        if resource not in available:
            names = ", ".join(r.value for r in available)
            raise ConfigError(
                f"{connector.platform.value} cannot sync {resource.value} (it syncs {names}); pick one of those"
            )
    return chosen


def run_sync(
    engine: Engine,
    tenant: Tenant,
    connector: Connector,
    *,
    resources: Iterable[Resource] | None = None,
    full: bool = False,
    since: datetime | None = None,
    clock: Callable[[], datetime],
    progress: Progress | None = None,
    owner: str | None = None,
    producer: str | None = None,
) -> SyncReport:
    """Sync a tenant's shop into the store and return what it did per resource.

    ``full`` ignores the saved cursors (everything is read again; what is
    already stored stays unchanged); ``since`` starts each resource at that
    time instead of its cursor. Raises SyncLockedError when another sync of
    the tenant runs, ConnectorAuthError when the shop refuses the keys (the
    sync stops). Any other ConnectorError stops that resource only; it is in
    the report (``ok`` False) and the next sync resumes from the saved cursor.
    ``producer``: where the shop is read while the store works (``PRODUCERS``; None: ``PRODUCER``).
    """
    chosen = _resources(connector, resources)
    produce = _producer(producer or PRODUCER)
    now = clock()
    owner = owner or new_owner()
    claim_lease(engine, tenant.id, tenant.name, owner, now)
    report = SyncReport(tenant=tenant.name, started_at=now)
    store = _Store(engine, tenant, owner, clock)
    outcome, error = "failed", "interrupted"
    try:
        for resource in chosen:
            stats = report.resources[resource] = ResourceStats()
            _sync_resource(engine, tenant, connector, resource, full, since, now, store, stats, progress, produce)
        if store.history:
            with engine.begin() as conn:  # a first sync: segments, metrics and predictions computed once
                finish_backfill(conn, tenant, clock())
        outcome = "ok" if report.ok else "failed"
        error = next((s.error for s in report.resources.values() if s.error), None)
    except ConnectorAuthError as exc:
        outcome, error = "auth_failed", str(exc)
        raise
    except BaseException as exc:
        outcome, error = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        raise
    finally:
        report.finished_at = clock()
        try:
            release_lease(engine, tenant.id, owner, report.finished_at, outcome, error)
        except Exception:  # noqa: BLE001 - the lease then expires by itself; the sync's own outcome matters more
            log.exception("tenant %s: could not release the sync lease (it expires by itself)", tenant.name)
    return report


def stop_message(tenant: str, resource: Resource, exc: ConnectorError) -> str:
    """What stopped a resource, and what to do: one line for the log and the summary."""
    text = str(exc).rstrip(".")
    if "what to" in text or "; check" in text or "; run " in text:
        return text  # the connector already says what to do
    return (
        f"{text}; the other resources went on and the next sync resumes {resource.value} where this one "
        f"stopped: if this repeats, check that the shop answers and that its key may read {resource.value}, "
        f"then run relance sync --tenant {tenant} --resource {resource.value}"
    )


def _sync_resource(
    engine: Engine,
    tenant: Tenant,
    connector: Connector,
    resource: Resource,
    full: bool,
    since: datetime | None,
    now: datetime,
    store: _Store,
    stats: ResourceStats,
    progress: Progress | None,
    produce: type[Prefetch[Page]] | type[ForkedPrefetch[Page]],
) -> None:
    if full:
        cursor = None
    elif since is not None:
        cursor = connector.cursor_since(resource, since)
    else:
        with engine.connect() as conn:
            cursor = get_cursor(conn, tenant.id, resource)
    if cursor is None:
        store.history.add(resource)
    try:
        # the next pages are downloaded and mapped while this one is stored (connectors.prefetch), in a child
        # process where it can be forked (another core), else in a thread
        with produce(lambda: connector.fetch(resource, cursor, now), name=f"relance-sync-{resource.value}") as pages:
            for page in pages:
                store.page(resource, page, stats)
                if progress is not None:
                    progress(resource, stats, False)
    except ConnectorAuthError:
        raise
    except ConnectorError as exc:
        stats.error = stop_message(tenant.name, resource, exc)
        log.error("tenant %s: syncing %s stopped: %s", tenant.name, resource.value, stats.error)
    if progress is not None:
        progress(resource, stats, True)
