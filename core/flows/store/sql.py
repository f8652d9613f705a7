"""A query helper the engine's batch queries share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Connection, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY


def among(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter whatever the batch size
    (a query with thousands of parameters costs more to parse than to run)."""
    if conn.dialect.name == "postgresql":
        kind = String() if values and isinstance(next(iter(values)), str) else BigInteger()
        return column == any_(bindparam(None, list(values), type_=ARRAY(kind)))
    return column.in_(list(values))
