"""Apply Event API v1 events to the store: the one write path for every source.

Webhooks, connectors, the tracker, file imports and simulations all end here.
``ingest_events`` stores a page of events set-based (a few statements for the
whole page, see its docstring); ``ingest_event`` is a page of one. Both are idempotent on the event's ``message_id``, and order, cart
and product snapshots only ever move forward in time: an older state arriving
late never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from core.events import CART_EVENTS, ORDER_EVENTS, cart_of, order_of, product_of
from core.model import Channel, ContactInfo, Event, LineItem, Platform
from core.store.contacts import (
    ANONYMOUS,
    PHONE,
    Identity,
    changed_fields,
    identities_of,
    lookup_identities,
    profile_changes,
    resolve_contact,
)
from core.store.db import among
from core.store.ingest_buffer import Pending, insert_rows
from core.store.schema import carts, contact_identities, contacts, events, metadata, orders, products

PLATFORMS = frozenset(p.value for p in Platform)
#: Sources whose newsletter_subscribed events are a confirmed opt-in. The tracker's
#: are not: they need the double opt-in confirmation first.
CONFIRMED_SIGNUP_SOURCES = PLATFORMS | {"api", "import", "simulation"}


@dataclass(frozen=True)
class Ingested:
    """What ingesting one event did.

    ``outcome`` is "stored" or "duplicate". ``name`` is the stored event name
    (an order event for an order seen for the first time is stored as
    ``order_placed``, later ones as ``order_updated``). ``effects`` lists what
    changed, for flows and segments to react to: ``contact_created``,
    ``contact_merged``, ``profile``, ``consent``, ``order_created``,
    ``order_changed``, ``order_status``, ``order_paid``, ``cart_changed``,
    ``cart_emptied``, ``cart_converted``, ``product_changed``, ``stale``;
    ``cart_created`` and ``product_created`` when the cart or product is new.
    """

    outcome: str
    event_id: int | None = None
    contact_id: int | None = None
    name: str | None = None
    effects: frozenset[str] = field(default_factory=frozenset)
    order_id: int | None = None
    cart_id: int | None = None


def commerce_source(event: Event, tenant_platform: str) -> str:
    """The platform whose ids an event's orders, carts and products use."""
    return event.source if event.source in PLATFORMS else tenant_platform


# Statements are built once and executed with parameters: building SQLAlchemy
# expressions per page cost more than running them.
@cache
def _statements(dialect: str) -> dict[str, Any]:
    ident = contact_identities.c
    return {
        "orders": select(
            orders.c.id, orders.c.source, orders.c.external_id, orders.c.status, orders.c.updated_at, orders.c.paid_at
        ).where(
            orders.c.tenant_id == bindparam("b_tenant"),
            orders.c.source == bindparam("b_source"),
            among(dialect, orders.c.external_id, "b_keys"),
        ),
        "carts": select(
            carts.c.id, carts.c.source, carts.c.external_id, carts.c.updated_at, carts.c.converted_order_id
        ).where(
            carts.c.tenant_id == bindparam("b_tenant"),
            carts.c.source == bindparam("b_source"),
            among(dialect, carts.c.external_id, "b_keys"),
        ),
        "products": select(products.c.source, products.c.external_id, products.c.updated_at).where(
            products.c.tenant_id == bindparam("b_tenant"),
            products.c.source == bindparam("b_source"),
            among(dialect, products.c.external_id, "b_keys"),
        ),
        "contacts": select(contacts).where(
            by_tenant(dialect, contacts.c.tenant_id), among(dialect, contacts.c.id, "b_ids")
        ),
        "kinds": select(ident.contact_id, ident.kind).where(
            by_tenant(dialect, ident.tenant_id), among(dialect, ident.contact_id, "b_ids")
        ),
        "stored": select(events.c.message_id).where(
            events.c.tenant_id == bindparam("b_tenant"), among(dialect, events.c.message_id, "b_keys")
        ),
    }


def by_tenant(dialect: str, column: Any, value: Any = None) -> Any:
    """``column = :b_tenant`` (or ``value``) for a query that also names its rows by id: on SQLite written so that
    no index on the tenant is used for it (``tenant_id + 0``), for SQLite without statistics otherwise scans every
    row of the tenant through an index starting with ``tenant_id`` instead of seeking the ids (a read per page
    growing with the store: 29 ms at 30k contacts, 0.6 ms by the ids)."""
    target = bindparam("b_tenant") if value is None else value
    return (column + 0 if dialect == "sqlite" else column) == target


_CONTACT_COLUMNS = tuple(c.name for c in contacts.c if c.name != "id")


class _Fallback(Exception):  # noqa: N818 - control flow inside this module only
    """The event merges contacts: the page's writes so far are flushed and it is resolved in SQL."""


@dataclass
class _Order:
    id: int
    status: str
    updated_at: datetime
    paid_at: datetime | None


@dataclass
class _Cart:
    id: int
    updated_at: datetime
    converted_order_id: int | None


class _Page:
    """The state a page of events reads, loaded in a few queries, and the writes it makes (``Pending``)."""

    def __init__(self, conn: Connection, tenant_id: int, tenant_platform: str, now: datetime) -> None:
        self.conn = conn
        self.tid = tenant_id
        self.tenant_platform = tenant_platform
        self.now = now
        self.sql = _statements(conn.dialect.name)
        self.pending = Pending(tenant_id)
        self.known: dict[Identity, int] = {}
        self.kinds: dict[int, list[str]] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self.orders: dict[tuple[str, str], _Order | None] = {}
        self.carts: dict[tuple[str, str], _Cart | None] = {}
        self.products: dict[tuple[str, str], datetime | None] = {}
        #: id(event) -> its Order, parsed once by ``load`` for ``apply_order`` (the events live as long as the page)
        self.parsed: dict[int, Any] = {}
        #: id(event) -> the identities it names, listed once by ``load`` for ``_apply``
        self.found: dict[int, list[Identity]] = {}
        #: contacts merged away by the last event applied -> the contact they were merged into
        self.merged: dict[int, int] = {}

    # -- loading ---------------------------------------------------------------------------------

    def load(self, batch: list[tuple[int, Event]], extra_contacts: Iterable[int] = ()) -> None:
        """Read what the events of ``batch`` need: identities, contacts, orders, carts, products."""
        wanted: list[Identity] = []
        order_keys: set[tuple[str, str]] = set()
        cart_keys: set[tuple[str, str]] = set()
        product_keys: set[tuple[str, str]] = set()
        for _event_id, event in batch:
            found = self.found[id(event)] = _identities(event, self.tenant_platform)
            wanted.extend(found)
            platform = commerce_source(event, self.tenant_platform)
            if event.name in ORDER_EVENTS:
                order = self.parsed[id(event)] = order_of(event)
                order_keys.add((platform, order.order_id))
                if order.cart_id:
                    cart_keys.add((platform, order.cart_id))
            elif event.name in CART_EVENTS:
                cart_keys.add((platform, cart_of(event).cart_id))
            elif event.name in ("product_updated", "product_viewed"):
                product_keys.add((platform, product_of(event).product_id))
        self.known = lookup_identities(self.conn, self.tid, wanted)
        ids = set(self.known.values()) | set(extra_contacts)
        self.rows = {}
        self.kinds = {}
        if ids:
            params = {"b_tenant": self.tid, "b_ids": sorted(ids)}
            self.rows = _contact_rows(self.conn.execute(self.sql["contacts"], params))
            if any(identity.kind == ANONYMOUS for identity in wanted):
                for contact_id, kind in self.conn.execute(self.sql["kinds"], params):
                    self.kinds.setdefault(contact_id, []).append(kind)
        self._load_keys("orders", order_keys - set(self.orders), self.orders, _order_state)
        self._load_keys("carts", cart_keys - set(self.carts), self.carts, _cart_state)
        self._load_keys("products", product_keys - set(self.products), self.products, lambda row: row.updated_at)

    def _load_keys(self, name: str, keys: set[tuple[str, str]], into: dict[Any, Any], state: Any) -> None:
        if not keys:
            return
        into.update(dict.fromkeys(keys))
        by_source: dict[str, list[str]] = {}
        for source, external_id in sorted(keys):
            by_source.setdefault(source, []).append(external_id)
        for source, external_ids in by_source.items():  # one query per platform: the unique key's index
            params = {"b_tenant": self.tid, "b_source": source, "b_keys": external_ids}
            for row in self.conn.execute(self.sql[name], params):
                into[(row.source, row.external_id)] = state(row)

    def row(self, contact_id: int) -> dict[str, Any]:
        if contact_id not in self.rows:  # a contact named by an identity moved by a merge this page
            params = {"b_tenant": self.tid, "b_ids": [contact_id]}
            self.rows.update(_contact_rows(self.conn.execute(self.sql["contacts"], params)))
        return self.rows[contact_id]

    def flush(self) -> None:
        """Write what is pending; placeholders in the page's state become ids."""
        self.pending.flush(self.conn)
        real = self.pending.real
        self.known = {identity: real(cid) for identity, cid in self.known.items()}  # type: ignore[misc]
        self.rows = {real(cid): row for cid, row in self.rows.items()}  # type: ignore[misc]
        self.kinds = {real(cid): kinds for cid, kinds in self.kinds.items()}  # type: ignore[misc]
        for state in [*self.orders.values(), *self.carts.values()]:
            if state is not None:
                state.id = real(state.id)  # type: ignore[assignment]
        for cart in self.carts.values():
            if cart is not None:
                cart.converted_order_id = real(cart.converted_order_id)

    # -- contacts --------------------------------------------------------------------------------

    def _is_anonymous(self, contact_id: int) -> bool:
        return all(kind == ANONYMOUS for kind in self.kinds.get(contact_id, ()))

    def resolve(self, found: list[Identity]) -> tuple[int, set[str]]:
        """``contacts.resolve_contact`` on the page's state; raises _Fallback for a merge."""
        known = self.known
        # ``resolve_contact``'s strong owners, first known anonymous and phone owners, in one pass over ``found``
        strong: set[int] = set()
        anonymous = by_phone = None
        has_strong_key = False
        for identity in found:
            kind = identity.kind
            if kind == ANONYMOUS:
                if anonymous is None:
                    anonymous = known.get(identity)
            elif kind == PHONE:
                if by_phone is None:
                    by_phone = known.get(identity)
            else:
                has_strong_key = True
                owner = known.get(identity)
                if owner is not None:
                    strong.add(owner)
        effects: set[str] = set()
        if strong:
            if len(strong) > 1 or (anonymous is not None and anonymous not in strong and self._is_anonymous(anonymous)):
                raise _Fallback
            target = next(iter(strong))
        elif anonymous is not None and (not has_strong_key or self._is_anonymous(anonymous)):
            target = anonymous
        elif by_phone is not None and not has_strong_key and anonymous is None:
            target = by_phone
        else:
            target = self.pending.placeholder()
            row = dict.fromkeys(_CONTACT_COLUMNS)
            row.update(tenant_id=self.tid, attributes={}, created_at=self.now, updated_at=self.now)
            self.pending.new_contacts[target] = row
            self.rows[target] = row
            self.kinds[target] = []
            effects.add("contact_created")
        for identity in found:
            owner = known.get(identity)
            if owner == target:
                continue
            if owner is None:
                self.pending.identities.append(
                    {"tenant_id": self.tid, "kind": identity.kind, "value": identity.value, "contact_id": target,
                     "created_at": self.now}
                )  # fmt: skip
            elif identity.kind == ANONYMOUS:
                # The browser now belongs to whoever identified last.
                self.pending.moves.append({"value": identity.value, "contact_id": target})
                if ANONYMOUS in self.kinds.get(owner, []):
                    self.kinds[owner].remove(ANONYMOUS)
            else:
                continue  # a phone shared with another contact stays with its first owner
            known[identity] = target
            self.kinds.setdefault(target, []).append(identity.kind)
        return target, effects

    def apply_info(self, contact_id: int, event: Event) -> set[str]:
        row = self.row(contact_id)
        at = event.timestamp
        values, granted = profile_changes(row, _implied_consent(event), at)
        for channel, choice in granted:
            self.pending.consents.append(
                {"tenant_id": self.tid, "contact_id": contact_id, "channel": channel.value, "granted": choice,
                 "at": at, "source": event.source, "message_id": event.message_id, "detail": None}
            )  # fmt: skip
        changed = changed_fields(values)
        if values:
            values["updated_at"] = self.now
            row.update(values)
            if contact_id > 0:
                self.pending.contact_updates.setdefault(contact_id, {}).update(values)
        effects = set()
        if changed - {"email_consent", "sms_consent"}:
            effects.add("profile")
        if changed & {"email_consent", "sms_consent"}:
            effects.add("consent")
        return effects

    # -- orders, carts, products -----------------------------------------------------------------

    def apply_order(self, platform: str, contact_id: int, event: Event, effects: set[str]) -> tuple[str, int]:
        order = self.parsed.pop(id(event), None) or order_of(event)
        key = (platform, order.order_id)
        state = self.orders.get(key)
        paid = order.status.is_revenue
        values: dict[str, Any] = {
            "number": order.number,
            "contact_id": contact_id,
            "status": order.status.value,
            "currency": order.currency,
            "total": order.total,
            "cart_id": order.cart_id,
            "created_at": order.created_at,
            "updated_at": order.updated_at,
        }
        if state is None:
            order_id = self.pending.placeholder()
            paid_at = order.updated_at if paid else None
            self.pending.new_orders[order_id] = {
                "tenant_id": self.tid, "source": platform, "external_id": order.order_id, "ingested_at": self.now,
                "paid_at": paid_at, **values,
            }  # fmt: skip
            self.orders[key] = _Order(order_id, order.status.value, order.updated_at, paid_at)
            effects.update({"order_created", "order_status"})
            if paid:
                effects.add("order_paid")
            name = "order_placed"
        else:
            order_id = state.id
            name = "order_updated"
            if order.updated_at <= state.updated_at:
                effects.add("stale")
                return name, order_id
            if state.status != order.status.value:
                effects.add("order_status")
                if paid and state.paid_at is None:
                    values["paid_at"] = order.updated_at
                    state.paid_at = order.updated_at
                    effects.add("order_paid")
            effects.add("order_changed")
            state.status, state.updated_at = order.status.value, order.updated_at
            if order_id < 0:
                self.pending.new_orders[order_id].update(values)
            else:
                self.pending.order_updates.setdefault(order_id, {}).update(values)
        if order.items or order_id in self.pending.order_items or order_id > 0:
            self.pending.order_items[order_id] = _item_rows(self.tid, "order_id", order_id, order.items)
        if order.cart_id:
            cart = self.carts.get((platform, order.cart_id))
            if cart is not None and cart.converted_order_id is None:
                cart.converted_order_id = order_id
                if cart.id < 0:
                    self.pending.new_carts[cart.id]["converted_order_id"] = order_id
                else:
                    self.pending.conversions[cart.id] = order_id
                effects.add("cart_converted")
        return name, order_id

    def apply_cart(self, platform: str, contact_id: int, event: Event, effects: set[str]) -> int:
        cart = cart_of(event)
        key = (platform, cart.cart_id)
        state = self.carts.get(key)
        values: dict[str, Any] = {
            "contact_id": contact_id,
            "currency": cart.currency,
            "total": cart.total,
            "item_count": sum(item.quantity for item in cart.items),
            "updated_at": cart.updated_at,
        }
        if cart.recovery_url:
            values["recovery_url"] = cart.recovery_url
        if event.name == "checkout_started":
            values["checkout_started_at"] = cart.updated_at
        if state is None:
            cart_id = self.pending.placeholder()
            self.pending.new_carts[cart_id] = {
                "tenant_id": self.tid, "source": platform, "external_id": cart.cart_id, "created_at": cart.updated_at,
                "recovery_url": None, "checkout_started_at": None, "converted_order_id": None, **values,
            }  # fmt: skip
            self.carts[key] = _Cart(cart_id, cart.updated_at, None)
            effects.add("cart_created")
        else:
            cart_id = state.id
            if cart.updated_at < state.updated_at:
                effects.add("stale")
                return cart_id
            state.updated_at = cart.updated_at
            if cart_id < 0:
                self.pending.new_carts[cart_id].update(values)
            else:
                self.pending.cart_updates.setdefault(cart_id, {}).update(values)
        effects.add("cart_changed")
        if not cart.items:
            effects.add("cart_emptied")
        if cart.items or cart_id in self.pending.cart_items or cart_id > 0:
            self.pending.cart_items[cart_id] = _item_rows(self.tid, "cart_id", cart_id, cart.items)
        return cart_id

    def apply_product(self, platform: str, event: Event, effects: set[str], overwrite: bool) -> None:
        product = product_of(event)
        key = (platform, product.product_id)
        existing = self.products.get(key)
        if existing is not None and (not overwrite or product.updated_at <= existing):
            if overwrite:
                effects.add("stale")
            return
        self.pending.products[key] = {
            "tenant_id": self.tid,
            "source": platform,
            "external_id": product.product_id,
            "sku": product.sku,
            "name": product.name,
            "brand": product.brand,
            "categories": list(product.categories),
            "price": product.price,
            "currency": product.currency,
            "in_stock": product.in_stock,
            "url": product.url,
            "image_url": product.image_url,
            "cross_sell_ids": list(product.cross_sell_ids),
            "updated_at": product.updated_at,
        }
        self.products[key] = product.updated_at
        effects.add("product_changed")
        if existing is None:
            effects.add("product_created")


def _contact_rows(result: Any) -> dict[int, dict[str, Any]]:
    """id -> the contact's row as a dict (what ``dict(row._mapping)`` gives, built from the row's tuple: a
    page reads a hundred contacts and more, the mapping view cost more than the query)."""
    keys = tuple(result.keys())
    at = keys.index("id")
    return {row[at]: dict(zip(keys, row, strict=True)) for row in result}


def _order_state(row: Any) -> _Order:
    return _Order(row.id, row.status, row.updated_at, row.paid_at)


def _cart_state(row: Any) -> _Cart:
    return _Cart(row.id, row.updated_at, row.converted_order_id)


def _identities(event: Event, tenant_platform: str) -> list[Identity]:
    contact_platform = event.source if event.source in PLATFORMS else None
    return identities_of(event.contact, event.anonymous_id, contact_platform)


_PAGE = "relance.page"


#: The key of ``page_scope``'s memo under which it keeps what the page stored (no ``page_memo`` key has a space).
_STORED = "page stored"


@contextmanager
def page_scope(conn: Connection, stored: Iterable[Ingested] = ()) -> Iterator[None]:
    """While a page's reactions run: what they load once per page (``page_memo``) is kept, then forgotten;
    ``stored``: what the page's events did (``page_stored``)."""
    if _PAGE in conn.info:  # already in a page's scope
        yield
        return
    conn.info[_PAGE] = {_STORED: [result for result in stored if result.outcome == "stored"]}
    try:
        yield
    finally:
        conn.info.pop(_PAGE, None)


def page_stored(conn: Connection) -> list[Ingested]:
    """What the events of the page whose reactions run stored (``page_scope``), in order; none outside one. A
    reaction that reads a row per event can read those of the whole page at once: the page is stored before any
    reaction runs."""
    memo = conn.info.get(_PAGE)
    return memo.get(_STORED, []) if memo else []


def page_memo(conn: Connection, key: str, load: Callable[[], Any]) -> Any:
    """``load()`` once per page of events (``page_scope``); every time outside one."""
    memo = conn.info.get(_PAGE)
    if memo is None:
        return load()
    if key not in memo:
        memo[key] = load()
    return memo[key]


def stored_message_ids(conn: Connection, tenant_id: int, message_ids: list[str]) -> set[str]:
    """Those of ``message_ids`` the tenant's store already holds (one query)."""
    if not message_ids:
        return set()
    params = {"b_tenant": tenant_id, "b_keys": list(message_ids)}
    return set(conn.execute(_statements(conn.dialect.name)["stored"], params).scalars())


def ingest_event(conn: Connection, tenant_id: int, tenant_platform: str, event: Event, now: datetime) -> Ingested:
    """Store one event and apply it to contacts, orders, carts and products: a page of one."""
    return ingest_events(conn, tenant_id, tenant_platform, [event], now)[0]


#: Outcome of applying one event: contact id (or placeholder), stored name, effects, order id, cart id.
_Outcome = tuple[int | None, str, set[str], int | None, int | None]


class ConcurrentIngestError(Exception):
    """Another transaction stored one of a page's events while the page was applied (SQLite, outside a sync):
    nothing of the page is kept, the caller's retry finds it stored (a duplicate)."""


def ingest_events(
    conn: Connection, tenant_id: int, tenant_platform: str, batch: Iterable[Event], now: datetime
) -> list[Ingested]:
    """Store a page of events and apply them, in order, to contacts, orders, carts and products.

    The result is what storing them one after the other would give (one
    ``Ingested`` per event, in order; a message id seen before, or earlier in
    the page, is a duplicate), in a few statements for the whole page: their
    identities resolved in one query, the contacts, orders, carts and products
    they touch read once and written once (``ingest_buffer``), then the events
    inserted at once with their contact and stored name. An event that merges
    contacts is resolved in SQL (``resolve_contact``) after the writes before
    it are flushed.

    Exactly one transaction applies a message id: the events are inserted
    last, ``ON CONFLICT DO NOTHING``, and if one of them was already stored
    (by an earlier page, or a concurrent transaction that committed it first),
    or a write of the page met a concurrent one (``IntegrityError``),
    PostgreSQL rolls the page back to a savepoint and stores it the other way
    round (events inserted first, which claims them, then applied:
    ``_store_claimed``). SQLite, which has one writer at a time, reads the
    stored message ids first; raises ConcurrentIngestError if another
    transaction stored one since (a transaction that has not written yet).
    """
    page_events = list(batch)
    if not page_events:
        return []
    first: dict[str, int] = {}
    for index, event in enumerate(page_events):
        first.setdefault(event.message_id, index)
    unique = [event for index, event in enumerate(page_events) if first[event.message_id] == index]
    done: dict[str, tuple[int, _Outcome]] | None
    postgresql = conn.dialect.name == "postgresql"
    # an AUTOCOMMIT connection (the sending job's) has no transaction block to hold a savepoint: claim first there
    if postgresql and not CLAIM_FIRST and not conn.connection.dbapi_connection.autocommit:
        savepoint = conn.begin_nested()
        try:
            done = _store_resolved(conn, tenant_id, tenant_platform, unique, now)
        except IntegrityError:  # a concurrent transaction wrote the same identity, order...: claim, then apply
            done = None
        except BaseException:
            savepoint.rollback()
            raise
        if done is None:
            savepoint.rollback()
            done = _store_claimed(conn, tenant_id, tenant_platform, unique, now)
        else:
            savepoint.commit()
    elif CLAIM_FIRST or postgresql:
        done = _store_claimed(conn, tenant_id, tenant_platform, unique, now)
    else:
        known = stored_message_ids(conn, tenant_id, [event.message_id for event in unique])
        fresh = [event for event in unique if event.message_id not in known]
        done = _store_resolved(conn, tenant_id, tenant_platform, fresh, now) if fresh else {}
        if done is None:
            raise ConcurrentIngestError("another transaction stored events of this page meanwhile; retry it")
    results = []
    for index, event in enumerate(page_events):
        stored = done.get(event.message_id) if first[event.message_id] == index else None
        if stored is None:
            results.append(Ingested(outcome="duplicate"))
            continue
        event_id, (contact_id, name, effects, order_id, cart_id) = stored
        results.append(
            Ingested(
                outcome="stored",
                event_id=event_id,
                contact_id=contact_id,
                name=name,
                effects=frozenset(effects),
                order_id=order_id,
                cart_id=cart_id,
            )
        )
    return results


#: Store every page the way concurrent duplicates take (events inserted first, then updated): for tests.
CLAIM_FIRST = False


def _event_row(tenant_id: int, event: Event, now: datetime) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "message_id": event.message_id,
        "type": event.type.value,
        "name": event.name,
        "occurred_at": event.timestamp,
        "received_at": now,
        "source": event.source,
        "properties": dict(event.properties),  # what ``event_to_dict`` stores as properties
    }


def _store_resolved(
    conn: Connection, tenant_id: int, tenant_platform: str, unique: list[Event], now: datetime
) -> dict[str, tuple[int, _Outcome]] | None:
    """Apply events not stored yet, then insert them with their contact and name; message id -> (event id,
    outcome with ids), or None when one of them was stored meanwhile (its effects are then written too: the
    caller rolls them back)."""
    page = _Page(conn, tenant_id, tenant_platform, now)
    todo = list(enumerate(unique))
    page.load(todo)
    outcomes: list[_Outcome] = []
    owners: list[int | None] = []  # each event's contact, or the one a later merge of the page moved it into
    for position, event in todo:
        outcomes.append(_apply(page, event, todo[position + 1 :]))
        if page.merged:  # what ``merge_contacts`` did to the rows already stored, for the events stored last
            real = page.pending.real
            owners = [None if c is None else page.merged.get(real(c), real(c)) for c in owners]  # type: ignore[misc]
            page.merged.clear()
        owners.append(outcomes[-1][0])
    page.flush()
    real = page.pending.real
    rows = []
    for event, owner, (_contact, name, _effects, _order, _cart) in zip(unique, owners, outcomes, strict=True):
        row = _event_row(tenant_id, event, now)
        row["name"] = name
        row["contact_id"] = real(owner)
        rows.append(row)
    stored = {row.message_id: row.id for row in insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)}
    if len(stored) != len(rows):
        return None
    return {
        event.message_id: (stored[event.message_id], (real(contact), name, effects, real(order), real(cart)))
        for event, (contact, name, effects, order, cart) in zip(unique, outcomes, strict=True)
    }


def _store_claimed(
    conn: Connection, tenant_id: int, tenant_platform: str, unique: list[Event], now: datetime
) -> dict[str, tuple[int, _Outcome]]:
    """Insert the events first (those already stored are skipped: duplicates), then apply those inserted and
    write their contact and name; message id -> (event id, outcome with ids)."""
    rows = [_event_row(tenant_id, event, now) for event in unique]
    stored = {row.message_id: row.id for row in insert_rows(conn, events, rows, ("id", "message_id"), ignore=True)}
    todo = [(stored[event.message_id], event) for event in unique if event.message_id in stored]
    page = _Page(conn, tenant_id, tenant_platform, now)
    page.load(todo)
    outcomes: dict[int, _Outcome] = {}
    for position, (event_id, event) in enumerate(todo):
        outcome = outcomes[event_id] = _apply(page, event, todo[position + 1 :])
        contact_id, name = outcome[0], outcome[1]
        if contact_id is not None or name != event.name:
            page.pending.events[event_id] = (contact_id, name)
    page.flush()
    real = page.pending.real
    return {
        event.message_id: (event_id, (real(contact), name, effects, real(order), real(cart)))
        for event_id, event in todo
        for contact, name, effects, order, cart in [outcomes[event_id]]
    }


def _apply(page: _Page, event: Event, rest: list[tuple[int, Event]]) -> _Outcome:
    effects: set[str] = set()
    platform = commerce_source(event, page.tenant_platform)
    found = page.found.pop(id(event), None)
    if found is None:
        found = _identities(event, page.tenant_platform)
    contact_id: int | None = None
    if found:
        try:
            contact_id, created = page.resolve(found)
        except _Fallback:
            page.flush()
            resolution = resolve_contact(page.conn, page.tid, found, page.now)
            contact_id = resolution.contact_id
            created = {"contact_created"} if resolution.created else set()
            if resolution.merged:
                created.add("contact_merged")
                page.merged.update(dict.fromkeys(resolution.merged, contact_id))
            page.load(rest, extra_contacts=[contact_id])
        effects |= created
        effects |= page.apply_info(contact_id, event)
    name = event.name
    order_id = cart_id = None
    if name in ORDER_EVENTS and contact_id is not None:
        name, order_id = page.apply_order(platform, contact_id, event, effects)
    elif name in CART_EVENTS and contact_id is not None:
        cart_id = page.apply_cart(platform, contact_id, event, effects)
    elif name == "product_updated":
        page.apply_product(platform, event, effects, overwrite=True)
    elif name == "product_viewed":
        page.apply_product(platform, event, effects, overwrite=False)
    return contact_id, name, effects, order_id, cart_id


def _implied_consent(event: Event) -> ContactInfo:
    """Newsletter events imply email consent unless the event says otherwise."""
    info = event.contact
    if Channel.EMAIL in info.consent:
        return info
    implied: bool | None = None
    if event.name == "newsletter_unsubscribed":
        implied = False
    elif event.name == "newsletter_subscribed" and event.source in CONFIRMED_SIGNUP_SOURCES:
        implied = True
    if implied is None:
        return info
    return replace(info, consent={**info.consent, Channel.EMAIL: implied})


def _item_rows(tenant_id: int, parent_key: str, parent_id: int, items: tuple[LineItem, ...]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            parent_key: parent_id,
            "position": position,
            "product_id": item.product_id,
            "variant_id": item.variant_id,
            "sku": item.sku,
            "name": item.name,
            "quantity": item.quantity,
            "unit_price": item.price,
            "brand": item.brand,
            "categories": list(item.categories),
            "url": item.url,
            "image_url": item.image_url,
        }
        for position, item in enumerate(items)
    ]


#: The tables a backfill fills: their statistics are refreshed before whole-tenant work reads them.
LOADED = ("contacts", "contact_identities", "consents", "events", "orders", "order_items", "carts", "cart_items",
          "products")  # fmt: skip


def analyze_columns(conn: Connection, columns: Mapping[str, tuple[str, ...]]) -> None:
    """PostgreSQL: fresh planner statistics for ``columns`` (table -> its columns) after a bulk load (autovacuum
    may lag far behind it, and a plan made for an empty table is a slow one for 100,000 rows). Only the columns
    the next work reads: analyzing every column of the loaded tables read the events' JSON too (1.7-2 s at 10k
    orders, 0.4-0.5 s for the refresh's columns). Names come from the caller's constants, never from input."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE " + ", ".join(f"{t} ({', '.join(c)})" for t, c in columns.items()))


#: A loaded table is analyzed again during a backfill once it has this many times the pages its statistics
#: counted (and at least ``GROWN_MIN_PAGES``): a doubling, so a few ANALYZE per run (about log2 of its size).
GROWN_FACTOR = 2
GROWN_MIN_PAGES = 8
_GROWN = text(
    "SELECT relname FROM pg_class WHERE oid = ANY(CAST(:b_tables AS regclass[])) "
    "AND pg_relation_size(oid) / current_setting('block_size')::int >= GREATEST(:b_min, relpages * :b_factor)"
)


@cache
def keyed_columns(table_name: str) -> tuple[str, ...]:
    """The columns of a table that its primary key, unique constraints, foreign keys and indexes name: what the
    planner weighs when it chooses how to find rows (not the JSON, names or addresses the rows carry)."""
    table = metadata.tables[table_name]
    named = []
    for constraint in table.constraints:  # the primary key among them
        named.extend(getattr(constraint, "columns", ()))
    for index in table.indexes:
        named.extend(index.columns)
    keyed = {column.name for column in named}
    return tuple(column.name for column in table.c if column.name in keyed)  # in the table's order


def analyze_grown(conn: Connection) -> list[str]:
    """PostgreSQL, between the pages of a backfill: ANALYZE the keyed columns (``keyed_columns``) of the loaded
    tables whose size doubled since their statistics were taken; return their names (one catalog query when
    none did). Statistics of the other columns are left to autovacuum, which an ANALYZE of some columns leaves
    due: the events' JSON among them, an ANALYZE of every column of a 10,000-order sync's events took 150 ms,
    of their keyed columns 50 ms.

    The statements of a page are prepared by psycopg after a few runs, and PostgreSQL then keeps a generic
    plan made when the tables were nearly empty (sequential scans) until the tables' statistics change: on
    a server whose autovacuum lags behind the load (or is off) every page's lookups then read whole tables,
    and a first sync slows down as it goes. An ANALYZE also drops those plans. Where autovacuum keeps up,
    the statistics are fresh and this does nothing."""
    if conn.dialect.name != "postgresql":
        return []
    params = {"b_tables": list(LOADED), "b_min": GROWN_MIN_PAGES, "b_factor": GROWN_FACTOR}
    grown = sorted(conn.execute(_GROWN, params).scalars())
    if grown:  # names from pg_class among LOADED, not from input
        analyze_columns(conn, {name: keyed_columns(name) for name in grown})
    return grown
