"""Predicted orders and revenue per contact: the purchase histories the forecast is fitted on, and
``predicted_orders`` / ``predicted_value`` in ``contact_metrics``.

``purchase_histories`` reads every customer's paid and completed orders summed up
twice, now and at the cut that starts the held-out window (the last half of
the shop's history, at most a year), and hands them to
``core.predictions_forecast``, which chooses and fits the shop's purchase
model and spend model. ``refresh_forecasts`` computes each contact's figures
from the summary ``contact_metrics`` already holds (count, spend, first and
last order), as of the hour like ``p_active``, and writes those that changed.
The models need the hypergeometric function, which neither SQLite nor
PostgreSQL has: the figures are computed in numpy, not in the statement that
writes the other metrics.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    MetaData,
    Numeric,
    Table,
    bindparam,
    case,
    cast,
    func,
    or_,
    select,
    text,
)

from core import predictions_forecast
from core.model import REVENUE_STATUSES
from core.predictions_forecast import Forecast, History, predict
from core.segments.store import dialect as sql
from core.segments.store.builtin import known_contact, order_summary
from core.segments.store.schema import contact_metrics
from core.store.schema import contacts, orders

#: The forecast is fitted on at most this many customers (an even sample of a bigger shop).
FIT_SAMPLE = 10000
#: Rows of a whole-tenant summary read at a time (streamed into arrays, not held as Python rows).
CHUNK = 5000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
#: A chunk of figures: contact ids, their predicted_orders and predicted_value.
Figures = tuple[list[int], list[Any], list[Any]]
#: Digits kept of ``predicted_orders``, and the cent of ``predicted_value``.
ORDERS_DIGITS = 6
CENT = Decimal("0.01")


def span_days(conn: Connection, tenant_id: int, now: datetime) -> float:
    """Days since the tenant's first paid or completed order (0 without any)."""
    first = conn.execute(
        select(sql.days_between(conn.dialect.name, func.min(orders.c.created_at), sql.at(now))).where(
            orders.c.tenant_id == tenant_id, orders.c.status.in_(REVENUE_STATUSES), orders.c.contact_id.is_not(None)
        )
    ).scalar()
    return float(first or 0.0)


def purchase_histories(conn: Connection, tenant_id: int, now: datetime, window: float) -> dict[str, Any]:
    """Per known customer (ordered by ``contact_id``), arrays: orders, spend and days, now and at ``window``
    days before now, ``T_as_of`` (days from the first order to ``as_of(now)``) and ``last`` (the time of the
    last order, ``micros``).

    One pass over the orders (a hash aggregate: sorted afterwards, in numpy, not by the database),
    streamed ``CHUNK`` rows at a time into the arrays (the rows of a big shop's every customer held
    at once were most of a first sync's memory); ``core.segments.store.metrics.fit_models`` fits
    every model and the RFM breakpoints on it.
    """
    dialect = conn.dialect.name
    cut = now - timedelta(days=window)
    created = orders.c.created_at
    before = created <= sql.at(cut)
    first = func.min(created)
    query = (
        select(
            orders.c.contact_id,
            func.count().label("n"),
            cast(func.sum(orders.c.total), Float).label("spent"),
            sql.days_between(dialect, first, func.max(created)).label("t_x"),
            sql.days_between(dialect, first, sql.at(now)).label("T"),
            func.sum(case((before, 1), else_=0)).label("n_cut"),
            cast(func.sum(case((before, orders.c.total), else_=0)), Float).label("spent_cut"),
            sql.days_between(dialect, first, func.max(case((before, created)))).label("t_x_cut"),
            sql.days_between(dialect, first, sql.at(cut)).label("T_cut"),
            func.max(created).label("last"),
            sql.days_between(dialect, first, sql.at(as_of(now))).label("T_as_of"),
        )
        .join(contacts, contacts.c.id == orders.c.contact_id)
        .where(orders.c.tenant_id == tenant_id, orders.c.status.in_(REVENUE_STATUSES), known_contact())
        .group_by(orders.c.contact_id)
    )
    names = ("n", "spent", "t_x", "T", "n_cut", "spent_cut", "t_x_cut", "T_cut")
    parts, lasts, ids = [], [], []
    for rows in conn.execute(query.execution_options(yield_per=CHUNK)).partitions():
        # None (no order before the cut) becomes NaN
        data = [(*row[1 : len(names) + 1], row.T_as_of) for row in rows]
        parts.append(np.array(data, dtype=float).reshape(-1, len(names) + 1))
        lasts.append(np.fromiter((micros(row.last) for row in rows), dtype=np.int64, count=len(rows)))
        ids.append(np.fromiter((row.contact_id for row in rows), dtype=np.int64, count=len(rows)))
    contact_ids = np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)
    order = np.argsort(contact_ids, kind="stable")
    found: dict[str, Any] = {"contact_id": contact_ids[order]}
    found["last"] = (np.concatenate(lasts) if lasts else np.empty(0, dtype=np.int64))[order]
    for j, name in enumerate((*names, "T_as_of")):  # a column at a time: no second copy of the whole table
        found[name] = np.concatenate([part[:, j] for part in parts])[order] if parts else np.empty(0)
    return found


def as_of(now: datetime) -> datetime:
    """The hour the figures that move with time (``p_active``, the forecast) are computed as of, so that
    refreshes within an hour agree."""
    return now.replace(minute=0, second=0, microsecond=0)


def histories_figures(forecast: Forecast, histories: dict[str, Any]) -> Iterator[Figures]:
    """``forecast_figures`` from the ``purchase_histories`` the models were just fitted on (the same
    customers, orders, spend and days, as of the same hour; no second pass over the orders), ``CHUNK``
    customers at a time."""
    for start in range(0, len(histories["n"]), CHUNK):
        part = slice(start, start + CHUNK)
        found = _predicted(forecast, *(histories[key][part] for key in ("n", "spent", "t_x", "T_as_of")))
        yield (histories["contact_id"][part].tolist(), *found)


def micros(value: Any) -> int:
    """A time as the database returns it (SQLite: text; PostgreSQL: an aware datetime) in microseconds
    since the epoch (UTC): exact, and 8 bytes in an array rather than a Python object."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value).replace(tzinfo=UTC)
    return (value - EPOCH) // MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC time of ``micros``."""
    return EPOCH + timedelta(microseconds=int(value))


def fit_forecast(histories: dict[str, Any], window: float) -> Forecast:
    """Choose and fit the tenant's purchase and spend models on its customers' ``purchase_histories``
    (an even sample of at most ``FIT_SAMPLE`` of them)."""
    step = max(1, len(histories["n"]) // FIT_SAMPLE)
    h = {key: values[::step] for key, values in histories.items()}
    current = History.of(h["n"], h["spent"], h["t_x"], h["T"])
    then = h["n_cut"] > 0
    if window <= 0 or not then.any():
        return predictions_forecast.fit_forecast(current)
    before = History.of(h["n_cut"][then], h["spent_cut"][then], h["t_x_cut"][then], h["T_cut"][then])
    return predictions_forecast.fit_forecast(current, before, current.take(then), window)


def _figures(forecast: Forecast, rows: list[Any]) -> list[tuple[float | None, Decimal | None]]:
    """Each row's (predicted_orders, predicted_value); None for contacts without a paid order."""
    return list(
        zip(
            *_predicted(
                forecast,
                [row.orders_count for row in rows],
                [float(row.total_spent) for row in rows],
                [row.t_x for row in rows],
                [row.T for row in rows],
            ),
            strict=True,
        )
    )


def _predicted(forecast: Forecast, n: Any, spent: Any, t_x: Any, T: Any) -> tuple[list[Any], list[Any]]:
    """Each customer's predicted_orders and predicted_value (two lists) from their summary; None for
    contacts without a paid order."""
    n = np.asarray(n, dtype=float).reshape(-1)
    orders_out: list[float | None] = [None] * len(n)
    values_out: list[Decimal | None] = [None] * len(n)
    buyers = np.flatnonzero(n > 0)
    if not len(buyers):
        return orders_out, values_out
    spent, t_x, T = (np.asarray(v, dtype=float).reshape(-1)[buyers] for v in (spent, t_x, T))
    expected, value = predict(forecast, History.of(n[buyers], spent, t_x, T))
    for i, orders_, value_ in zip(buyers.tolist(), expected.tolist(), value.tolist(), strict=True):
        orders_out[i], values_out[i] = round(orders_, ORDERS_DIGITS), Decimal(repr(value_)).quantize(CENT)
    return orders_out, values_out


def forecast_figures(conn: Connection, tenant_id: int, now: datetime, forecast: Forecast) -> Iterator[Figures]:
    """Every known customer's (contact ids, predicted_orders, predicted_value), ``CHUNK`` customers at a time,
    as of the hour, from their orders summed up (the same figures ``refresh_forecasts`` computes from the
    stored metrics: the same first and last order times, count and spend), for ``stage_figures``."""
    dialect = conn.dialect.name
    summary = order_summary()
    query = (
        select(
            summary.c.contact_id,
            summary.c.n_orders.label("orders_count"),
            summary.c.spent.label("total_spent"),
            sql.days_between(dialect, summary.c.first_at, summary.c.last_at).label("t_x"),
            sql.days_between(dialect, summary.c.first_at, sql.at(as_of(now))).label("T"),
        )
        .join(contacts, contacts.c.id == summary.c.contact_id)
        .where(known_contact())
    )
    params = {"tenant_id": tenant_id, "loyal_since": now}
    for rows in conn.execute(query.execution_options(yield_per=CHUNK), params).partitions():
        data = np.array([(row.orders_count, float(row.total_spent), row.t_x, row.T) for row in rows], dtype=float)
        yield ([row.contact_id for row in rows], *_predicted(forecast, *data.reshape(-1, 4).T))


#: Where ``stage_figures`` puts a whole-tenant refresh's forecast figures for the metrics' statement to join
#: (PostgreSQL; the transaction's own, dropped at its end).
STAGED = Table(
    "relance_staged_figures",
    MetaData(),
    Column("contact_id", BigInteger),
    Column("orders", Float),
    Column("value", Numeric),
    prefixes=["TEMPORARY"],
)
_STAGE = text(
    "INSERT INTO relance_staged_figures (contact_id, orders, value) SELECT * FROM unnest("
    "CAST(:b_contacts AS bigint[]), CAST(:b_orders AS float8[]), CAST(:b_values AS numeric[]))"
)


def stage_figures(conn: Connection, chunks: Iterable[Figures]) -> None:
    """Write the figures into ``STAGED`` (emptied first) chunk by chunk: a big shop's figures are never
    all held as Python objects (they were most of a first sync's memory), and each chunk goes in one
    statement."""
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS relance_staged_figures "
        "(contact_id bigint, orders float8, value numeric) ON COMMIT DROP"
    )
    conn.exec_driver_sql("DELETE FROM relance_staged_figures")
    for ids, figures, values in chunks:
        if ids:
            conn.execute(_STAGE, {"b_contacts": ids, "b_orders": figures, "b_values": values})
    conn.exec_driver_sql("ANALYZE relance_staged_figures")  # its size, for the join's plan


#: The changed figures written in one statement (PostgreSQL), or by executemany (SQLite).
_UPDATE_PG = text(
    "UPDATE contact_metrics SET predicted_orders = u.orders, predicted_value = u.value "
    "FROM unnest(CAST(:b_contacts AS bigint[]), CAST(:b_orders AS float8[]), CAST(:b_values AS numeric[])) "
    "AS u(contact_id, orders, value) "
    "WHERE contact_metrics.tenant_id = :b_tenant AND contact_metrics.contact_id = u.contact_id"
)


#: Contacts whose figures ``refresh_forecasts`` reads, computes and writes at a time.
FORECAST_CHUNK = 5000


def refresh_forecasts(
    conn: Connection, tenant_id: int, now: datetime, forecast: Forecast, contact_id: int | None = None
) -> int:
    """Recompute ``predicted_orders`` and ``predicted_value`` of the tenant's contacts (or one) from their
    stored metrics, as of the hour; return the rows whose figures changed.

    Only rows that hold an order or a figure are read (a contact without either keeps none), ``FORECAST_CHUNK``
    at a time in contact id order (the rows of a 100k-customer shop held at once were a SQLite first sync's
    memory peak, +50 MB), and each chunk's changed ones are written in one statement on PostgreSQL.
    """
    dialect = conn.dialect.name
    as_of = now.replace(minute=0, second=0, microsecond=0)
    m = contact_metrics.c
    conds = [
        m.tenant_id == tenant_id,
        or_(m.orders_count > 0, m.predicted_orders.is_not(None), m.predicted_value.is_not(None)),
    ]
    if contact_id is not None:
        conds.append(m.contact_id == contact_id)
    query = (
        select(
            m.contact_id,
            m.orders_count,
            m.total_spent,
            sql.days_between(dialect, m.first_order_at, m.last_order_at).label("t_x"),
            sql.days_between(dialect, m.first_order_at, sql.at(as_of)).label("T"),
            m.predicted_orders,
            m.predicted_value,
        )
        .where(*conds, m.contact_id > bindparam("b_after"))
        .order_by(m.contact_id)
        .limit(FORECAST_CHUNK)
    )
    written, after = 0, 0
    while True:  # a chunk of contacts at a time (by id): a big shop's rows are never all held at once
        rows = conn.execute(query, {"b_after": after}).all()
        if not rows:
            return written
        after = rows[-1].contact_id
        changed = [
            (row.contact_id, orders_, value)
            for row, (orders_, value) in zip(rows, _figures(forecast, rows), strict=True)
            if (orders_, value) != (row.predicted_orders, row.predicted_value)
        ]
        _write_figures(conn, tenant_id, changed)
        written += len(changed)
        if len(rows) < FORECAST_CHUNK:
            return written


def _write_figures(conn: Connection, tenant_id: int, changed: list[tuple[int, float | None, Decimal | None]]) -> None:
    """The changed figures of a chunk: one statement on PostgreSQL, executemany on SQLite."""
    if not changed:
        return
    m = contact_metrics.c
    if conn.dialect.name == "postgresql" and len(changed) > 1:
        ids, figures, values = (list(column) for column in zip(*changed, strict=True))
        conn.execute(_UPDATE_PG, {"b_tenant": tenant_id, "b_contacts": ids, "b_orders": figures, "b_values": values})
    else:
        conn.execute(
            contact_metrics.update()
            .where(m.tenant_id == tenant_id, m.contact_id == bindparam("b_contact"))
            .values(predicted_orders=bindparam("b_orders"), predicted_value=bindparam("b_value")),
            [{"b_contact": c, "b_orders": o, "b_value": v} for c, o, v in changed],
        )
