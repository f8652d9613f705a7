"""The writes of a page of events, held in memory and sent in a few statements (``core.store.ingest``).

Rows created during a page get a placeholder id (a negative number) until
they are inserted; ``flush`` inserts contacts, then orders, then carts (each in
one statement returning the new ids in order), replaces every placeholder by
its id, and runs every other write as one ``executemany`` per statement and
set of changed columns. Each row is written once per flush, whatever number
of events changed it. On PostgreSQL the new rows of a table go as one JSON
document written by orjson (``_pg_document``), read by ``jsonb_to_recordset``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Connection, Table, bindparam, delete, insert, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.types import TypeDecorator

from core.store.schema import cart_items, carts, consents, contact_identities, contacts, order_items, orders
from core.store.schema import products as products_table
from core.store.types import Money, UTCDateTime, require_aware

#: Columns of a contact row that an event may change (``profile_changes``) or a page sets.
PRODUCT_COLUMNS = tuple(c.name for c in products_table.c if c.name not in ("id", "tenant_id", "source", "external_id"))


@cache
def _statements(dialect: str) -> dict[str, Any]:
    dml = postgresql if dialect == "postgresql" else sqlite
    product_upsert = dml.insert(products_table)
    anon = contact_identities.c
    return {
        "move_anonymous": update(contact_identities)
        .where(anon.tenant_id == bindparam("b_tenant"), anon.kind == "anonymous", anon.value == bindparam("b_value"))
        .values(contact_id=bindparam("b_contact")),
        "drop_order_items": delete(order_items).where(order_items.c.order_id == bindparam("b_id")),
        "drop_cart_items": delete(cart_items).where(cart_items.c.cart_id == bindparam("b_id")),
        "convert_cart": update(carts)
        .where(carts.c.id == bindparam("b_id"), carts.c.converted_order_id.is_(None))
        .values(converted_order_id=bindparam("b_order")),
        "upsert_product": product_upsert.on_conflict_do_update(
            index_elements=["tenant_id", "source", "external_id"],
            set_={name: product_upsert.excluded[name] for name in PRODUCT_COLUMNS},
        ),
    }


@cache
def _update(table: Table, columns: frozenset[str]) -> Any:
    """``UPDATE table SET <columns> WHERE id = :b_id`` (tenant-scoped by the ids the page resolved in its tenant)."""
    return (
        update(table)
        .where(table.c.tenant_id == bindparam("b_tenant"), table.c.id == bindparam("b_id"))
        .values({name: bindparam(name) for name in sorted(columns)})
    )


_PG_EVENTS_DONE = text(
    "UPDATE events SET contact_id = done.contact_id, name = done.name "
    "FROM unnest(CAST(:b_ids AS bigint[]), CAST(:b_contacts AS bigint[]), CAST(:b_names AS varchar[])) "
    "AS done(id, contact_id, name) WHERE events.tenant_id = :b_tenant AND events.id = done.id"
)


_SQLITE_EVENTS_DONE = "UPDATE events SET contact_id = ?, name = ? WHERE tenant_id = ? AND id = ?"


@cache
def _pg_bulk(table: Table, columns: tuple[str, ...], returning: tuple[str, ...], ignore: bool) -> Any:
    """``INSERT INTO table SELECT ... FROM unnest(<one array per column>) ORDER BY the rows' order`` (for the rows
    ``_pg_document`` cannot write as JSON): one short
    statement whatever the number of rows (PostgreSQL then prepares it once; a multi-row VALUES is a new
    statement for every number of rows). New ids come in the order of the rows (one ``nextval`` per row,
    in that order, increasing)."""
    dialect = postgresql.dialect()
    arrays, picks = [], []
    for name in columns:
        column_type = table.c[name].type.compile(dialect=dialect)
        if _is_json(table.c[name]):
            arrays.append(f"CAST(:{name} AS text[])")
            picks.append(f"CAST(u.{name} AS {column_type})")
        else:
            arrays.append(f"CAST(:{name} AS {column_type}[])")
            picks.append(f"u.{name}")
    return _pg_insert(table, columns, picks, f"unnest({', '.join(arrays)})", returning, ignore)


def _pg_insert(
    table: Table, columns: tuple[str, ...], picks: list[str], rows: str, returning: tuple[str, ...], ignore: bool
) -> Any:
    """``INSERT INTO table (columns) SELECT picks FROM rows WITH ORDINALITY AS u(columns, row_order) ORDER BY
    row_order``, skipping conflicts when ``ignore``, returning ``returning``: the statement of ``_pg_bulk`` and
    ``_pg_recordset``, which differ in how the rows are bound (``rows``)."""
    # names and types from the schema's metadata; every value is bound
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {', '.join(picks)} "  # noqa: S608
        f"FROM {rows} WITH ORDINALITY AS u({', '.join(columns)}, row_order) ORDER BY row_order"
    )
    if ignore:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql)


@cache
def _is_json(column: Any) -> bool:
    """Whether a column holds JSON (once per column: compiling its type per page cost more than the test)."""
    return isinstance(column.type, JSON | postgresql.JSONB) or "JSON" in column.type.compile(
        dialect=postgresql.dialect()
    )


def insert_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], returning: tuple[str, ...] = (), ignore: bool = False
) -> list[Any]:
    """Insert rows (all with the same keys) in one statement; return the ``returning`` columns of the new rows,
    in the order of the rows (``ignore``: rows in conflict are skipped and return nothing)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if conn.dialect.name != "postgresql":
        if _sqlite_direct(table, columns):
            return _sqlite_insert(conn, table, columns, rows, returning, ignore)
        statement: Any = sqlite.insert(table).on_conflict_do_nothing() if ignore else insert(table)
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
            return list(conn.execute(statement, rows))
        conn.execute(statement, rows)
        return []
    document = _pg_document(table, columns, rows)
    if document is not None:
        result = conn.execute(_pg_recordset(table, columns, returning, ignore), {"b_rows": document})
        return list(result) if returning else []
    dialect = conn.dialect
    params: dict[str, list[Any]] = {}
    for name in columns:
        column = table.c[name]
        values = [row[name] for row in rows]
        if _is_json(column):
            values = [None if v is None else json.dumps(v, default=_as_text) for v in values]
        elif isinstance(column.type, TypeDecorator):
            values = [column.type.process_bind_param(v, dialect) for v in values]
        params[name] = values
    result = conn.execute(_pg_bulk(table, columns, returning, ignore), params)
    return list(result) if returning else []


def _as_text(value: Any) -> str:
    """What a JSON column's value holds of a type JSON does not know, as ``_pg_document`` writes it: a datetime in
    ISO 8601 (``2026-10-01T11:30:15+01:00``, as orjson writes it), anything else (``Decimal``) by ``str``."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


#: orjson's options for ``_pg_document``: dictionary keys that are not strings written as strings. Datetimes are
#: written by orjson in C, in RFC 3339 (``2026-11-23T12:00:00+00:00``: PostgreSQL reads it as ``str`` writes it,
#: with a ``T``); other types it does not know (``Decimal``) by ``str``. Passed through to ``str`` too, the
#: datetimes took 3 µs a row of events, five times the rest of its document (13-16 ms against 2-3 ms for 3,960 rows).
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


@cache
def _pg_plain(table: Table, columns: tuple[str, ...]) -> tuple[str, ...] | None:
    """The columns whose values must be aware datetimes, or None when a column's type converts its values in
    Python in a way ``_pg_document`` does not (then ``insert_rows`` binds one array per column)."""
    moments = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            moments.append(name)
        elif isinstance(column_type, TypeDecorator) and not isinstance(column_type, Money):
            return None
    return tuple(moments)


def _pg_document(table: Table, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str | None:
    """The rows as one JSON array of objects for ``_pg_recordset``, or None when they cannot be written so.

    orjson writes the whole page in C (PostgreSQL then reads it with ``jsonb_to_recordset``, in the server's
    process): binding one array per column made psycopg dump every value in Python, and each JSON column's
    value went through ``json.dumps``; the store's CPU over a 10,000-order first sync's pages fell by 15 %.
    A datetime is written with its offset, which PostgreSQL reads as ``timestamptz``, so a naive one is refused
    here as ``UTCDateTime`` refuses it (``require_aware``). An integer past 64 bits, which
    orjson refuses, sends the rows the other way."""
    moments = _pg_plain(table, columns)
    if moments is None:
        return None
    for name in moments:
        for row in rows:
            require_aware(row[name])
    try:
        return orjson.dumps(rows, default=str, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return None


@cache
def _pg_recordset(table: Table, columns: tuple[str, ...], returning: tuple[str, ...], ignore: bool) -> Any:
    """``INSERT INTO table SELECT ... FROM jsonb_to_recordset(:b_rows) ... ORDER BY the rows' order``: one short
    statement whatever the number of rows, prepared once by PostgreSQL; new ids come in the order of the rows."""
    dialect = postgresql.dialect()
    definitions = ", ".join(f"{name} {table.c[name].type.compile(dialect=dialect)}" for name in columns)
    rows = f"ROWS FROM (jsonb_to_recordset(CAST(:b_rows AS jsonb)) AS ({definitions}))"
    return _pg_insert(table, columns, [f"u.{name}" for name in columns], rows, returning, ignore)


@cache
def _sqlite_direct(table: Table, columns: tuple[str, ...]) -> bool:
    """Whether rows of these columns can skip SQLAlchemy's statement execution: no column left out has a
    default that SQLAlchemy would fill in."""
    return all(column.name in columns or column.default is None for column in table.c)


@cache
def _sqlite_processors(table: Table, columns: tuple[str, ...], dialect: Any) -> tuple[Any, ...]:
    """Each column's bind processor (the type's Python conversion, as SQLAlchemy would apply it), or None."""
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)


#: Rows per statement of an ``INSERT ... VALUES (...), (...) RETURNING`` on SQLite (under its 32,766 variables).
SQLITE_ROWS_PER_INSERT = 500


def _sqlite_insert(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: list[dict[str, Any]],
    returning: tuple[str, ...], ignore: bool,
) -> list[Any]:  # fmt: skip
    """``insert_rows`` on SQLite, run by the driver: the rows as tuples converted by each column's bind processor,
    one ``executemany`` (or multi-row ``VALUES ... RETURNING``, which SQLite numbers in order). SQLAlchemy's own
    executemany builds a parameter dict per row and converts it value by value through its compiled statement:
    that cost more than SQLite's writes for a page of events."""
    processors = _sqlite_processors(table, columns, conn.dialect)
    converters = [(index, process) for index, process in enumerate(processors) if process is not None]
    values = []
    for row in rows:
        params = [row[name] for name in columns]
        for index, process in converters:
            params[index] = process(params[index])
        values.append(params)
    # names from the schema's metadata; every value is bound
    head = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "  # noqa: S608
    one = "(" + ", ".join("?" * len(columns)) + ")"
    tail = (" ON CONFLICT DO NOTHING" if ignore else "") + (f" RETURNING {', '.join(returning)}" if returning else "")
    if not returning:
        conn.exec_driver_sql(head + one + tail, [tuple(params) for params in values])
        return []
    found: list[Any] = []
    for start in range(0, len(values), SQLITE_ROWS_PER_INSERT):
        chunk = values[start : start + SQLITE_ROWS_PER_INSERT]
        flat = tuple(value for params in chunk for value in params)
        found.extend(conn.exec_driver_sql(head + ", ".join([one] * len(chunk)) + tail, flat))
    return found


@dataclass
class Pending:
    """Writes of a page not sent yet. Ids below zero are placeholders of rows in ``new_*``."""

    tenant_id: int
    next_placeholder: int = -1
    #: placeholder -> id, for every row inserted by a flush of this page
    ids: dict[int, int] = field(default_factory=dict)
    new_contacts: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    new_carts: dict[int, dict[str, Any]] = field(default_factory=dict)
    identities: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)
    #: id -> changed columns, for rows that existed before the page
    contact_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    order_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    cart_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: order / cart id -> its items (replacing the stored ones when the id is not a placeholder)
    order_items: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    cart_items: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    conversions: dict[int, int] = field(default_factory=dict)  # cart id -> order id (placeholders allowed)
    products: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    #: event id -> (contact id or placeholder, stored name)
    events: dict[int, tuple[int | None, str]] = field(default_factory=dict)

    def placeholder(self) -> int:
        value = self.next_placeholder
        self.next_placeholder -= 1
        return value

    def real(self, value: int | None) -> int | None:
        """The id of a row, whether it was given as a placeholder (already inserted) or an id."""
        if value is None or value > 0:
            return value
        return self.ids[value]

    def flush(self, conn: Connection) -> None:
        """Send every pending write, in an order that satisfies the foreign keys; then forget them."""
        sql = _statements(conn.dialect.name)
        tid = self.tenant_id
        self._insert(conn, contacts, self.new_contacts)
        insert_rows(
            conn, contact_identities, [{**r, "contact_id": self.real(r["contact_id"])} for r in self.identities]
        )
        if self.moves:
            rows = [
                {"b_tenant": tid, "b_value": m["value"], "b_contact": self.real(m["contact_id"])} for m in self.moves
            ]
            conn.execute(sql["move_anonymous"], rows)
        insert_rows(conn, consents, [{**r, "contact_id": self.real(r["contact_id"])} for r in self.consents])
        _updates(conn, contacts, tid, self.contact_updates, self.real, ())
        if self.products:
            conn.execute(sql["upsert_product"], list(self.products.values()))
        for row in self.new_orders.values():
            row["contact_id"] = self.real(row["contact_id"])
        self._insert(conn, orders, self.new_orders)
        _updates(conn, orders, tid, self.order_updates, self.real, ("contact_id",))
        self._items(conn, sql["drop_order_items"], order_items, "order_id", self.order_items)
        for row in self.new_carts.values():
            row["contact_id"] = self.real(row["contact_id"])
            row["converted_order_id"] = self.real(row.get("converted_order_id"))
        self._insert(conn, carts, self.new_carts)
        _updates(conn, carts, tid, self.cart_updates, self.real, ("contact_id",))
        self._items(conn, sql["drop_cart_items"], cart_items, "cart_id", self.cart_items)
        if self.conversions:
            conn.execute(
                sql["convert_cart"],
                [{"b_id": self.real(c), "b_order": self.real(o)} for c, o in self.conversions.items()],
            )
        if self.events:
            done = [(event_id, self.real(contact), name) for event_id, (contact, name) in self.events.items()]
            if conn.dialect.name == "postgresql":  # one statement, not one per event
                ids, contact_ids, names = (list(column) for column in zip(*done, strict=True))
                params = {"b_tenant": tid, "b_ids": ids, "b_contacts": contact_ids, "b_names": names}
                conn.execute(_PG_EVENTS_DONE, params)
            else:  # ids and names need no conversion: run by the driver (``_sqlite_insert``)
                conn.exec_driver_sql(_SQLITE_EVENTS_DONE, [(c, n, tid, i) for i, c, n in done])
        self._clear()

    def _insert(self, conn: Connection, table: Table, rows: dict[int, dict[str, Any]]) -> None:
        if not rows:
            return
        placeholders = list(rows)
        # both databases number the rows of one statement in order, increasing
        ids = sorted(row.id for row in insert_rows(conn, table, [rows[p] for p in placeholders], ("id",)))
        self.ids.update(zip(placeholders, ids, strict=True))

    def _items(
        self, conn: Connection, drop: Any, add: Any, parent: str, items: dict[int, list[dict[str, Any]]]
    ) -> None:
        replaced = [{"b_id": parent_id} for parent_id in items if parent_id > 0]
        if replaced:
            conn.execute(drop, replaced)
        rows = [{**row, parent: self.real(parent_id)} for parent_id, list_ in items.items() for row in list_]
        insert_rows(conn, add, rows)

    def _clear(self) -> None:
        for name in (
            "new_contacts", "new_orders", "new_carts", "identities", "moves", "consents", "contact_updates",
            "order_updates", "cart_updates", "order_items", "cart_items", "conversions", "products", "events",
        ):  # fmt: skip
            getattr(self, name).clear()


def _updates(
    conn: Connection,
    table: Table,
    tenant_id: int,
    changes: dict[int, dict[str, Any]],
    real: Any,
    references: tuple[str, ...],
) -> None:
    """One ``executemany`` per set of changed columns."""
    groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
    for row_id, values in changes.items():
        params = {"b_tenant": tenant_id, "b_id": row_id, **values}
        for name in references:
            if name in params:
                params[name] = real(params[name])
        groups[frozenset(values)].append(params)
    for columns, rows in groups.items():
        conn.execute(_update(table, columns), rows)
