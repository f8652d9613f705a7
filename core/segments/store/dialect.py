"""SQL expressions that differ between SQLite and PostgreSQL: time spans, powers, JSON lists.

Every function takes the dialect name ("sqlite" or "postgresql") and returns a
SQLAlchemy expression; the callers stay dialect-neutral.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.elements import ColumnElement

from core.store import db
from core.store.types import UTCDateTime

#: The smallest exponent of 2 we compute: below it a weight is 0 (PostgreSQL refuses to underflow).
MIN_EXPONENT = -1000.0


def at(when: datetime) -> ColumnElement[Any]:
    """A bound UTC time, stored the way the dialect stores times."""
    return literal(when, UTCDateTime)


def days_between(dialect: str, start: Any, end: Any) -> ColumnElement[float]:
    """``end - start`` in days (fractional)."""
    if dialect == "postgresql":
        # date_part gives a double; EXTRACT a numeric since PostgreSQL 14 (a third slower over a tenant's events)
        return func.date_part("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def power2(dialect: str, exponent: Any) -> ColumnElement[float]:
    """``2 ** exponent``, 0 for very negative exponents."""
    return func.power(
        2.0, greatest(dialect, cast(exponent, Float) if dialect == "postgresql" else exponent, MIN_EXPONENT)
    )


def log2(dialect: str, value: Any) -> ColumnElement[float]:
    """``log2(value)``, NULL where ``value`` is not positive (SQLite's own; PostgreSQL would raise)."""
    if dialect == "postgresql":
        positive = cast(func.nullif(func.greatest(cast(value, Float), 0.0), 0.0), Float)
        return func.ln(positive) / math.log(2.0)  # log(base, x) is numeric-only in PostgreSQL
    return func.log2(value)


def greatest(dialect: str, *values: Any) -> ColumnElement[Any]:
    """The largest of ``values`` (SQLite's multi-argument ``max``)."""
    return (func.greatest if dialect == "postgresql" else func.max)(*values)


def rounded(dialect: str, value: Any, digits: int) -> ColumnElement[float]:
    """A float rounded to ``digits`` decimals (so that recomputing it gives the same stored value).

    PostgreSQL rounds the double ``value * 10**digits`` to an integer and divides it back: the double
    nearest the rounded decimal, as ``round(value::numeric, digits)::float8`` gives, without the two
    conversions to and from ``numeric`` (a quarter of a whole-tenant metrics statement's time).
    """
    if dialect == "postgresql":
        scale = float(10**digits)
        return func.round(cast(value, Float) * scale) / scale
    return func.round(value, digits)


def month_of(dialect: str, value: Any) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("month", value), Float)
    return cast(func.strftime("%m", value), Float)


def day_of(dialect: str, value: Any) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("day", value), Float)
    return cast(func.strftime("%d", value), Float)


def json_text(column: Any, key: str) -> ColumnElement[str]:
    """The text of a JSON object's key (NULL when absent)."""
    return column[key].as_string()


def json_number(dialect: str, column: Any, key: str) -> ColumnElement[float]:
    """A JSON object's key as a number; NULL when absent or not a JSON number."""
    if dialect == "postgresql":
        doc = type_coerce(column, JSONB)
        return case((func.jsonb_typeof(doc[key]) == "number", cast(doc[key].astext, Float)), else_=None)
    path = f'$."{key}"'
    return case(
        (func.json_type(column, path).in_(["integer", "real"]), cast(func.json_extract(column, path), Float)),
        else_=None,
    )


def json_bool(dialect: str, column: Any, key: str) -> ColumnElement[bool | None]:
    """A JSON object's key as a boolean; NULL when absent or not a JSON boolean."""
    if dialect == "postgresql":
        doc = type_coerce(column, JSONB)
        kind = func.jsonb_typeof(doc[key])
        return case((kind == "boolean", doc[key].astext == "true"), else_=None)
    kind = func.json_type(column, f'$."{key}"')
    return case((kind == "true", True), (kind == "false", False), else_=None)


def json_list_has(dialect: str, json_list: Any, value: str) -> ColumnElement[bool]:
    """True when the JSON list holds ``value`` (compared case-insensitively)."""
    if dialect == "postgresql":
        doc = type_coerce(json_list, JSONB)
        safe = case((func.jsonb_typeof(doc) == "array", doc), else_=literal([], JSONB))
        elements = func.jsonb_array_elements_text(safe).table_valued("value")
    else:
        elements = func.json_each(json_list).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(func.lower(elements.c.value) == value.lower()))


def json_key_list_has(dialect: str, column: Any, key: str, value: str) -> ColumnElement[bool]:
    """True when the JSON object's list under ``key`` holds ``value`` (case-insensitively)."""
    if dialect == "postgresql":
        return json_list_has(dialect, type_coerce(column, JSONB)[key], value)
    return json_list_has(dialect, func.json_extract(column, f'$."{key}"'), value)


def among(dialect: str, column: Any, name: str = "among") -> ColumnElement[bool]:
    """``column`` is one of the ids of the parameter ``name`` (its value: ``among_value``).

    One parameter however many ids, however often the statement names it: a PostgreSQL array
    (``core.store.db.among``), a JSON list on SQLite (``json_each``; the expanding ``IN`` of
    ``core.store.db.among`` binds one variable per id at every use, past SQLite's limit of 32,766 for a
    few thousand ids named four times).
    """
    if dialect == "postgresql":
        return db.among(dialect, column, name)
    return column.in_(select(literal_column("value")).select_from(func.json_each(bindparam(name))))


def among_value(dialect: str, ids: Sequence[int]) -> Any:
    """The value of an ``among`` parameter holding ``ids``."""
    return list(ids) if dialect == "postgresql" else json.dumps(list(ids))


def url_base(dialect: str, url: Any) -> ColumnElement[str]:
    """A URL without its query string."""
    if dialect == "postgresql":
        return func.split_part(url, "?", 1)
    return case((func.instr(url, "?") > 0, func.substr(url, 1, func.instr(url, "?") - 1)), else_=url)


def ensure_math(conn: Connection) -> None:
    """Give SQLite ``power`` and ``log2`` when its build lacks the math functions."""
    if conn.dialect.name != "sqlite":
        return
    try:
        conn.exec_driver_sql("SELECT power(2.0, 1.0), log2(2.0)").all()
    except Exception:  # noqa: BLE001 - an OperationalError "no such function": register ours
        raw = conn.connection.driver_connection
        raw.create_function("power", 2, math.pow, deterministic=True)
        raw.create_function("log2", 1, lambda x: math.log2(x) if x and x > 0 else None, deterministic=True)
