"""What a built-in flow module provides, and what it is handed.

A built-in flow is one module of ``core.flows.library`` exporting ``FLOW``, a
:class:`BuiltinFlow`: its settings (typed, with defaults, and how to read
them from the tenant file), its definition, and — for a flow started by a
fact of the shop (``TriggerKind.SHOP``) — the hooks the generic code calls:
``react`` (start and end runs as events are stored), ``periodic`` work
(scans), ``exit_reason`` and ``anchor`` (when a due run is evaluated), and
``contents`` (the products its messages show). Flows triggered by an event, a
segment or a date need no hook: the generic triggers handle them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.flows.config import TenantFlows
from core.flows.model import Definition, Send
from core.flows.store.facts import Batch, ContactFacts, RunRow
from core.flows.store.queries import is_reachable, orders_for_run, orders_product_ids
from core.model import Event
from core.store.ingest import Ingested, page_memo, page_stored
from core.store.tenants import Tenant


@dataclass(frozen=True)
class Reaction:
    """One stored event, in its transaction, as a flow module's ``react`` sees it."""

    conn: Connection
    tenant: Tenant
    flows: TenantFlows
    event: Event
    ingested: Ingested
    now: datetime
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def order(self) -> Any:
        """The stored order the event is about (read once for every flow that asks), or None."""
        return self._of_order("order", orders_for_run, None)

    def order_products(self) -> list[str]:
        """The product ids of the lines of the order the event is about, in order."""
        return self._of_order("order_products", orders_product_ids, [])

    def _of_order(self, name: str, of_many: Callable[..., dict[int, Any]], default: Any) -> Any:
        """What ``of_many`` reads about the event's order (``default`` when it finds nothing), once per event;
        within a page's reactions it reads it for the orders of every event of the page at once, at the first
        ask (``page_stored``: the page is stored before any reaction runs)."""
        if name not in self._cache:
            order_id = self.ingested.order_id
            found = default
            if order_id is not None:
                conn, tenant_id = self.conn, self.tenant.id
                page = page_memo(
                    conn, f"flow_{name}:{tenant_id}", lambda: of_many(conn, tenant_id, _page_order_ids(conn))
                )
                if order_id not in page:  # outside a page's reactions, or an order the page did not store
                    page = of_many(conn, tenant_id, [order_id])
                found = page.get(order_id, default)
            self._cache[name] = found
        return self._cache[name]

    def reachable(self, contact_id: int) -> bool:
        """``queries.is_reachable`` of the contact (asked once for every flow that asks about the same contact)."""
        key = f"reachable:{contact_id}"
        if key not in self._cache:
            self._cache[key] = is_reachable(self.conn, self.tenant.id, contact_id)
        return self._cache[key]

    @property
    def effects(self) -> frozenset[str]:
        return self.ingested.effects

    @property
    def contact_id(self) -> int:
        assert self.ingested.contact_id is not None
        return self.ingested.contact_id

    @property
    def name(self) -> str | None:
        return self.ingested.name or self.event.name


def _page_order_ids(conn: Connection) -> list[int]:
    """The orders the events of the page whose reactions run stored or changed."""
    return [result.order_id for result in page_stored(conn) if result.order_id is not None]


#: (conn, tenant, flows, now, lookahead) -> how many runs started. ``lookahead`` is how much further
#: than usual a scan looks when it runs less often than its cadence (the simulation's idle scans).
PeriodicRun = Callable[[Connection, Tenant, TenantFlows, datetime, timedelta], int]


@dataclass(frozen=True)
class PeriodicWork:
    """Work a flow needs done on a cadence (production: a periodic job; simulation: the simulated clock).

    The simulation runs it every ``every`` after an event with one of
    ``wakes_on``'s effects was stored, and every ``idle_every`` otherwise
    (None: never without such an event), looking ``idle_every`` further ahead.
    """

    name: str
    every: timedelta
    run: PeriodicRun
    wakes_on: frozenset[str] = frozenset()
    idle_every: timedelta | None = None


#: (batch, definition, run, step, contact) -> the message's context: ``products`` and what its template needs.
Content = Callable[[Batch, Definition, RunRow, Send, ContactFacts], dict[str, Any]]
ExitReason = Callable[[Batch, RunRow, ContactFacts], str | None]
Anchor = Callable[[Batch, RunRow, ContactFacts], tuple[datetime | None, str]]


@dataclass(frozen=True)
class BuiltinFlow:
    """A built-in flow: see the module docstring."""

    name: str
    #: Default priority: lower goes first when several flows want one contact.
    priority: int
    #: A frozen dataclass whose every field has a default; ``enabled`` and ``channel`` among them.
    settings: type
    #: (raw section, key path) -> typed settings; raises FlowConfigError naming the key.
    parse: Callable[[Any, str], Any]
    #: typed settings -> the flow's definition.
    define: Callable[[Any], Definition]
    react: Callable[[Reaction], None] | None = None
    #: Reacts to events about the shop's catalogue, which concern no contact (a product back in stock).
    react_catalogue: Callable[[Reaction], None] | None = None
    periodic: tuple[PeriodicWork, ...] = ()
    exit_reason: ExitReason | None = None
    anchor: Anchor | None = None
    contents: Mapping[str, Content] = field(default_factory=dict)
    #: Names among ``contents`` that show no products (a message with them is not dropped for ``no_products``).
    productless: frozenset[str] = frozenset()

    def defaults(self) -> Any:
        return self.settings()
