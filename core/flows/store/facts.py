"""What the engine needs to evaluate a batch of runs, locked and loaded with a few queries.

Loading per batch rather than per run is what makes the engine fast: one
query for the runs, one for their contacts, one for their recent marketing
messages, one per kind of fact (carts, orders, purchases), whatever the size
of the batch. Facts are loaded on first use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from sqlalchemy import Connection, func, select, update

from core.flows.config import TenantFlows
from core.flows.model import Definition, RunState
from core.flows.rules import SLOT_SEARCH_DAYS, Entry, Ledger, zone
from core.flows.store.schema import flow_runs
from core.flows.store.sql import among
from core.model import REVENUE_STATUSES
from core.recommendations import Stats
from core.store.recommendations import load_stats, purchased_products
from core.store.schema import cart_items, carts, contacts, messages, order_items, orders
from core.store.tenants import Tenant

#: Statuses of marketing messages that count against the pressure caps.
COUNTED = ("scheduled", "sending", "sent")


@dataclass
class ContactFacts:
    id: int
    email: str | None
    phone: str | None
    first_name: str | None
    timezone: str | None
    birthday: Any
    attributes: dict[str, Any]
    email_consent: bool | None
    sms_consent: bool | None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunRow:
    """A run being evaluated (mutable: the engine moves it on)."""

    id: int
    flow: str
    contact_id: int
    trigger_key: str
    position: int
    due_at: datetime | None
    step_due_at: datetime | None
    trigger_at: datetime
    context: dict[str, Any]
    started_at: datetime
    state: str = RunState.WAITING.value
    end_reason: str | None = None
    changed: bool = False
    context_changed: bool = False


def _chunks(ids: Sequence[int], size: int = 2000) -> list[Sequence[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


class Batch:
    def __init__(self, conn: Connection, tenant: Tenant, flows: TenantFlows, now: datetime) -> None:
        self.conn = conn
        self.tenant = tenant
        self.flows = flows
        self.now = now
        self.runs: list[RunRow] = []
        self.contacts: dict[int, ContactFacts] = {}
        self._ledgers: dict[int, Ledger] = {}
        self._entries: dict[int, list[Entry]] = defaultdict(list)
        self._memo: dict[str, Any] = {}

    def memo(self, key: str, load: Callable[[Batch], Any]) -> Any:
        """A fact a flow module loads once per batch (``load(batch)`` on first use)."""
        if key not in self._memo:
            self._memo[key] = load(self)
        return self._memo[key]

    def _among(self, column: Any, values: Sequence[Any]) -> Any:
        return among(self.conn, column, values)

    # -- loading -----------------------------------------------------------------------
    def load(self, run_ids: Sequence[int]) -> list[RunRow]:
        """Lock the runs (and their contacts, so that two batches never count one contact's
        pressure at once) and load the ones still waiting and due."""
        conn, tid = self.conn, self.tenant.id
        ids = sorted(set(run_ids))
        if not ids:
            return []
        if conn.dialect.name == "sqlite":
            # take SQLite's write lock first: what is read next cannot change under us
            for chunk in _chunks(ids):
                conn.execute(
                    update(flow_runs)
                    .where(flow_runs.c.tenant_id == tid, self._among(flow_runs.c.id, chunk))
                    .values(claimed_until=flow_runs.c.claimed_until)
                )
        else:
            # lock the contacts first (the order ingestion takes them in), loading them at once
            for chunk in _chunks(ids):
                of_runs = select(flow_runs.c.contact_id).where(
                    flow_runs.c.tenant_id == tid, self._among(flow_runs.c.id, chunk)
                )
                self._load_contacts(contacts.c.id.in_(of_runs.scalar_subquery()), lock=True)
        rows: list[Any] = []
        for chunk in _chunks(ids):
            query = (
                select(flow_runs)
                .where(
                    flow_runs.c.tenant_id == tid,
                    self._among(flow_runs.c.id, chunk),
                    flow_runs.c.state == RunState.WAITING.value,
                    flow_runs.c.due_at <= self.now,
                )
                .order_by(flow_runs.c.id)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            rows.extend(conn.execute(query))
        self.runs = [
            RunRow(
                id=r.id,
                flow=r.flow,
                contact_id=r.contact_id,
                trigger_key=r.trigger_key,
                position=r.position,
                due_at=r.due_at,
                step_due_at=r.step_due_at,
                trigger_at=r.trigger_at,
                context=dict(r.context or {}),
                started_at=r.started_at,
            )
            for r in rows
        ]
        missing = sorted({run.contact_id for run in self.runs} - set(self.contacts))
        for chunk in _chunks(missing):
            self._load_contacts(self._among(contacts.c.id, chunk))
        self._load_pressure(sorted(self.contacts))
        return self.runs

    def load_contacts(self, contact_ids: Sequence[int]) -> dict[int, ContactFacts]:
        """Load (on PostgreSQL, lock) contacts by id with their counted marketing messages: what the rules
        need for messages that are not a run's (a campaign's batch)."""
        ids = sorted(set(contact_ids))
        for chunk in _chunks(ids):
            self._load_contacts(self._among(contacts.c.id, chunk), lock=self.conn.dialect.name == "postgresql")
        self._load_pressure(ids)
        return self.contacts

    def _load_contacts(self, which: Any, lock: bool = False) -> None:
        columns = [
            contacts.c[name]
            for name in (
                "id",
                "email",
                "phone",
                "first_name",
                "last_name",
                "birthday",
                "country",
                "city",
                "locale",
                "timezone",
                "attributes",
                "email_consent",
                "sms_consent",
            )
        ]
        query = select(*columns).where(contacts.c.tenant_id == self.tenant.id, which).order_by(contacts.c.id)
        if lock:
            query = query.with_for_update()
        for row in self.conn.execute(query):
            self.contacts[row.id] = ContactFacts(
                id=row.id,
                email=row.email,
                phone=row.phone,
                first_name=row.first_name,
                timezone=row.timezone,
                birthday=row.birthday,
                attributes=dict(row.attributes or {}),
                email_consent=row.email_consent,
                sms_consent=row.sms_consent,
                fields={k: getattr(row, k) for k in ("last_name", "country", "city", "locale")},
            )

    def _load_pressure(self, ids: list[int]) -> None:
        settings = self.flows.settings
        when = func.coalesce(messages.c.sent_at, messages.c.due_at)
        low = self.now - timedelta(days=8)
        high = self.now + timedelta(days=SLOT_SEARCH_DAYS + 8)
        for chunk in _chunks(ids):
            rows = self.conn.execute(
                select(
                    messages.c.id,
                    messages.c.contact_id,
                    messages.c.flow,
                    messages.c.status,
                    messages.c.due_at,
                    messages.c.sent_at,
                    messages.c.context,
                ).where(
                    messages.c.tenant_id == self.tenant.id,
                    self._among(messages.c.contact_id, chunk),
                    messages.c.marketing.is_(True),
                    messages.c.status.in_(COUNTED),
                    when >= low,
                    when <= high,
                )
            )
            for row in rows:
                expires = (row.context or {}).get("expires_at")
                self._entries[row.contact_id].append(
                    Entry(
                        when=row.sent_at or row.due_at,
                        rank=settings.rank(row.flow),
                        message_id=row.id,
                        movable=row.status == "scheduled" and row.due_at > self.now,
                        expires_at=datetime.fromisoformat(expires) if expires else None,
                        flow=row.flow,
                    )
                )

    def ledger(self, contact: ContactFacts) -> Ledger:
        if contact.id not in self._ledgers:
            tz = zone(contact.timezone, self.tenant.config.timezone)
            self._ledgers[contact.id] = Ledger(tz, list(self._entries.get(contact.id, [])))
        return self._ledgers[contact.id]

    def _runs_with(self, key: str) -> list[RunRow]:
        """The runs whose context names a ``key`` ("cart", "order", "product")."""
        return [run for run in self.runs if run.context.get(key)]

    def definition(self, run: RunRow) -> Definition | None:
        return self.flows.by_name.get(run.flow)

    # -- facts, loaded on first use ----------------------------------------------------
    @cached_property
    def carts(self) -> dict[int, Any]:
        ids = sorted({run.context["cart"] for run in self._runs_with("cart")})
        found: dict[int, Any] = {}
        for chunk in _chunks(ids):
            for row in self.conn.execute(
                select(carts).where(carts.c.tenant_id == self.tenant.id, self._among(carts.c.id, chunk))
            ):
                found[row.id] = row
        return found

    @cached_property
    def cart_items(self) -> dict[int, list[Any]]:
        items: dict[int, list[Any]] = defaultdict(list)
        for chunk in _chunks(sorted(self.carts)):
            for row in self.conn.execute(
                select(cart_items)
                .where(cart_items.c.tenant_id == self.tenant.id, self._among(cart_items.c.cart_id, chunk))
                .order_by(cart_items.c.cart_id, cart_items.c.position)
            ):
                items[row.cart_id].append(row)
        return items

    @cached_property
    def last_order_at(self) -> dict[int, datetime]:
        """Contact id -> when their latest order was placed (for the cart runs' exit goal)."""
        ids = sorted({run.contact_id for run in self._runs_with("cart")})
        found: dict[int, datetime] = {}
        for chunk in _chunks(ids):
            rows = self.conn.execute(
                select(orders.c.contact_id, func.max(orders.c.created_at))
                .where(orders.c.tenant_id == self.tenant.id, self._among(orders.c.contact_id, chunk))
                .group_by(orders.c.contact_id)
            )
            found.update({cid: at for cid, at in rows})
        return found

    @cached_property
    def orders(self) -> dict[int, Any]:
        ids = sorted({run.context["order"] for run in self._runs_with("order")})
        found: dict[int, Any] = {}
        for chunk in _chunks(ids):
            for row in self.conn.execute(
                select(orders).where(orders.c.tenant_id == self.tenant.id, self._among(orders.c.id, chunk))
            ):
                found[row.id] = row
        return found

    @cached_property
    def order_items(self) -> dict[int, list[Any]]:
        items: dict[int, list[Any]] = defaultdict(list)
        for chunk in _chunks(sorted(self.orders)):
            for row in self.conn.execute(
                select(order_items)
                .where(order_items.c.tenant_id == self.tenant.id, self._among(order_items.c.order_id, chunk))
                .order_by(order_items.c.order_id, order_items.c.position)
            ):
                items[row.order_id].append(row)
        return items

    @cached_property
    def latest_purchase(self) -> dict[tuple[int, str], datetime]:
        """(contact id, product id) -> latest paid purchase, for the runs about a product."""
        runs = self._runs_with("product")
        contact_ids = sorted({run.contact_id for run in runs})
        product_ids = sorted({run.context.get("product") for run in runs if run.context.get("product")})
        found: dict[tuple[int, str], datetime] = {}
        for chunk in _chunks(contact_ids):
            rows = self.conn.execute(
                select(orders.c.contact_id, order_items.c.product_id, func.max(orders.c.created_at))
                .select_from(order_items.join(orders, orders.c.id == order_items.c.order_id))
                .where(
                    orders.c.tenant_id == self.tenant.id,
                    self._among(orders.c.contact_id, chunk),
                    orders.c.status.in_(REVENUE_STATUSES),
                    self._among(order_items.c.product_id, product_ids),
                )
                .group_by(orders.c.contact_id, order_items.c.product_id)
            )
            found.update({(cid, pid): at for cid, pid, at in rows})
        return found

    @cached_property
    def histories(self) -> dict[int, set[str]]:
        """Contact id -> every product they ordered (never recommended to them again)."""
        return purchased_products(self.conn, self.tenant.id, self.contacts)

    @cached_property
    def stats(self) -> Stats:
        return load_stats(self.conn, self.tenant.id, self.now)
