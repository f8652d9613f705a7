"""Per-contact metrics: RFM scores, purchase-cycle predictions and the lead score, in ``contact_metrics``.

``fit_models`` fits the tenant's purchase model, RFM quintile breakpoints and
forecast (``segment_models``); ``refresh_metrics`` recomputes ``contact_metrics``
in one INSERT ... SELECT ... ON CONFLICT statement, for the whole tenant (the
periodic refresh) or one contact (as it acts), rewriting only rows that
changed, then the forecast's ``predicted_orders`` and ``predicted_value``
(``core.segments.store.forecasts``).

RFM: recency (time of the last order), frequency (paid and completed orders)
and monetary value (their total), scored 1 to 5 against the tenant's
quintiles: a value above the 20/40/60/80 % breakpoints scores 2/3/4/5, so ties
share a score. Contacts without orders have none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    Float,
    Integer,
    Interval,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core import predictions
from core.predictions import PurchaseModel
from core.predictions_forecast import Forecast, window_days
from core.scoring import ScoringSettings, add_points, score_at, score_params
from core.segments.store import dialect as sql
from core.segments.store.builtin import known_contact, order_summary
from core.segments.store.forecasts import (
    STAGED,
    fit_forecast,
    forecast_figures,
    from_micros,
    histories_figures,
    purchase_histories,
    refresh_forecasts,
    span_days,
    stage_figures,
)
from core.segments.store.schema import contact_metrics, segment_members, segment_models
from core.segments.store.scoring import score_query
from core.store.db import upsert
from core.store.schema import contacts
from core.store.types import UTCDateTime

#: The purchase model is fitted on at most this many customers (an even sample of a bigger shop).
FIT_SAMPLE = 10000
METRIC_FIELDS = (
    "orders_count total_spent first_order_at last_order_at rfm_r rfm_f rfm_m "
    "order_interval_days expected_next_order_at p_active score_log2"
).split()
FORECAST_FIELDS = ("predicted_orders", "predicted_value")


@dataclass(frozen=True)
class Models:
    """What the full refresh fitted for a tenant."""

    purchase: PurchaseModel
    rfm_r: tuple[datetime, ...] = ()
    rfm_f: tuple[float, ...] = ()
    rfm_m: tuple[float, ...] = ()
    scoring: str = ""
    fitted_at: datetime | None = None
    #: Predicted orders and revenue (None in models stored before it existed: refitted then).
    forecast: Forecast | None = None
    #: How many customers the models were fitted on (None in models stored before it was kept).
    customers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "purchase": self.purchase.to_dict(),
            "forecast": self.forecast.to_dict() if self.forecast else None,
            "rfm": {
                "r": [t.isoformat() for t in self.rfm_r],
                "f": list(self.rfm_f),
                "m": list(self.rfm_m),
            },
            "scoring": self.scoring,
            "fitted_at": self.fitted_at.isoformat() if self.fitted_at else None,
            "customers": self.customers,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Models:
        rfm = raw.get("rfm") or {}
        forecast = raw.get("forecast")
        # Models fitted before the forecast existed count as never fitted: the next refresh refits them.
        fitted = raw.get("fitted_at") if forecast else None
        return cls(
            purchase=PurchaseModel.from_dict(raw["purchase"]),
            rfm_r=tuple(datetime.fromisoformat(t) for t in rfm.get("r", ())),
            rfm_f=tuple(float(v) for v in rfm.get("f", ())),
            rfm_m=tuple(float(v) for v in rfm.get("m", ())),
            scoring=raw.get("scoring", ""),
            fitted_at=datetime.fromisoformat(fitted) if fitted else None,
            forecast=Forecast.from_dict(forecast) if forecast else None,
            customers=raw.get("customers"),
        )


def get_models(conn: Connection, tenant_id: int) -> Models | None:
    """The tenant's fitted models, or None before the first full refresh."""
    raw = conn.execute(select(segment_models.c.params).where(segment_models.c.tenant_id == tenant_id)).scalar()
    return Models.from_dict(raw) if raw else None


def _breaks(values: Any) -> tuple[Any, ...]:
    """The 20/40/60/80 % quantiles of the values, each one of the values (the inverted CDF)."""
    ordered = sorted(values)
    if not ordered:
        return ()
    n = len(ordered)
    return tuple(ordered[max(math.ceil(q * n) - 1, 0)] for q in (0.2, 0.4, 0.6, 0.8))


def fit_models(
    conn: Connection, tenant_id: int, now: datetime, scoring: ScoringSettings
) -> tuple[Models, dict[str, Any]]:
    """Fit the tenant's purchase model, RFM breakpoints and forecast from its customers, store them; return
    them and the customers' ``purchase_histories`` they were fitted on (``refresh_metrics`` computes the
    forecast's figures from them, as of the same time)."""
    window = window_days(span_days(conn, tenant_id, now))
    histories = purchase_histories(conn, tenant_id, now, window)
    n, t_x, T = histories["n"], histories["t_x"], histories["T"]
    x = np.maximum(n - 1, 0)
    T = np.maximum(T, t_x)
    step = max(1, len(n) // FIT_SAMPLE)
    purchase = predictions.fit(x[::step], t_x[::step], T[::step])
    models = Models(
        purchase=purchase,
        rfm_r=tuple(from_micros(value) for value in _breaks(histories["last"])),
        rfm_f=tuple(float(v) for v in _breaks(n)),
        rfm_m=tuple(float(v) for v in _breaks(np.round(histories["spent"], 2))),
        scoring=scoring.fingerprint,
        fitted_at=now,
        forecast=fit_forecast(histories, window),
        customers=len(n),
    )
    upsert(
        conn,
        segment_models,
        {"tenant_id": tenant_id, "params": models.to_dict(), "computed_at": now},
        keys=["tenant_id"],
        update=["params", "computed_at"],
    )
    return models, histories


def count_customers(conn: Connection, tenant_id: int, typologies: tuple[str, ...] = ()) -> int:
    """How many known customers the models would be fitted on now.

    Counted from the stored members of the customer ``typologies`` when given (the caller passes
    them when they are maintained: every known contact with a paid or completed order is in
    exactly one of them; an index-only count), else from ``contact_metrics``; both are kept current
    by every order's reaction. Not by aggregating the orders again: the periodic refresh asks it
    every time, and a second pass over the orders was a third of its cost. It only decides
    whether the shop changed enough since the fit (``REFIT_CHANGE``).
    """
    if typologies:
        query = select(func.count()).where(
            segment_members.c.tenant_id == tenant_id, segment_members.c.segment.in_(typologies)
        )
    else:
        query = select(func.count()).where(contact_metrics.c.tenant_id == tenant_id, contact_metrics.c.orders_count > 0)
    return int(conn.execute(query).scalar() or 0)


#: RFM breakpoints of a tenant without customers: every first customer scores 1.
NO_BREAKS = {"r": datetime(9999, 1, 1, tzinfo=UTC), "f": 1e18, "m": 1e18}


def _quintile(value: Any, name: str, type_: Any) -> Any:
    """1 + the number of the measure's four breakpoints (parameters ``name1`` to ``name4``) below the value."""
    above = sum((case((value > bindparam(f"{name}{i}", type_=type_), 1), else_=0) for i in range(1, 5)), literal(0))
    return case((value.is_not(None), 1 + above), else_=None)


def metrics_params(
    tenant_id: int, now: datetime, models: Models, scoring: ScoringSettings, contact_id: int | None = None
) -> dict[str, Any]:
    """The values of the parameters of ``metrics_statement``."""
    model = models.purchase
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "now": now,
        # p_active moves with time: computed as of the hour, so that refreshes within an hour agree.
        "as_of": now.replace(minute=0, second=0, microsecond=0),
        "loyal_since": now,
        "m_r": model.r,
        "m_alpha": model.alpha,
        "m_a": model.a,
        "m_b": model.b,
        "gap_k": model.k,
        "gap_beta": model.beta,
        **score_params(now, scoring),
    }
    for name, breaks in (("r", models.rfm_r), ("f", models.rfm_f), ("m", models.rfm_m)):
        values = list(breaks) or [NO_BREAKS[name]] * 4
        params.update({f"rfm_{name}{i}": value for i, value in enumerate(values, start=1)})
    if contact_id is not None:
        params["contact_id"] = contact_id
    return params


def metrics_statement(dialect: str, kind: str, scoring: ScoringSettings, scoped: bool, figures: bool = False) -> Any:
    """The INSERT ... SELECT ... ON CONFLICT that recomputes ``contact_metrics`` (parameters: ``metrics_params``).

    With ``figures`` (PostgreSQL), it writes the forecast's ``predicted_orders`` and ``predicted_value`` too,
    from the table ``forecasts.STAGED`` (``forecasts.stage_figures``).
    """
    points = tuple(sorted(scoring.points.items()))
    return _metrics_statement(dialect, kind, points, scoring.half_life_days, scoped, figures)


@lru_cache(maxsize=64)
def _metrics_statement(
    dialect: str, kind: str, points: tuple[tuple[str, float], ...], half_life: float, scoped: bool, figures: bool
) -> Any:
    scoring = ScoringSettings(half_life_days=half_life, points=dict(points))
    summary = order_summary(scoped)
    score = score_query(dialect, scoring, scoped).subquery("scores")
    r, alpha, a, b = (bindparam(f"m_{p}", type_=Float) for p in ("r", "alpha", "a", "b"))
    x = summary.c.n_orders - 1
    t_x = sql.days_between(dialect, summary.c.first_at, summary.c.last_at)
    # As of the hour, which may precede the last orders: the period observed is at least their span (as
    # predictions.predict takes it), never negative.
    T = sql.greatest(dialect, sql.days_between(dialect, summary.c.first_at, bindparam("as_of", type_=UTCDateTime)), t_x)
    interval = (bindparam("gap_beta", type_=Float) + t_x) / (bindparam("gap_k", type_=Float) + x)
    if kind == "mbgnbd":
        odds = sql.log2(dialect, a / (b + x))
    else:
        odds = sql.log2(dialect, a / func.coalesce(func.nullif(b + x - 1, 0), 1e-12))
    odds = odds + (r + x) * (sql.log2(dialect, alpha + T) - sql.log2(dialect, alpha + t_x))
    capped = case((odds > 1000, 1000.0), else_=odds)
    p_active = 1.0 / (1.0 + sql.power2(dialect, capped))
    if kind == "bgnbd":
        p_active = case((x == 0, 1.0), else_=p_active)
    interval_seconds = interval * 86400.0
    if dialect == "postgresql":
        # to the millisecond, as SQLite's julian days hold it: the last order's time and the interval, each rounded
        last_ms = func.date_trunc(
            "milliseconds", summary.c.last_at + literal_column("interval '0.5 milliseconds'", Interval)
        )
        shift = func.make_interval(0, 0, 0, 0, 0, 0, sql.rounded(dialect, interval_seconds, 3))
        expected = last_ms + shift
    else:
        shift = func.printf("%+.3f seconds", interval_seconds)
        expected = func.strftime("%Y-%m-%d %H:%M:%f000", summary.c.last_at, shift)
    conds = [contacts.c.tenant_id == bindparam("tenant_id", type_=Integer), known_contact()]
    if scoped:
        conds.append(contacts.c.id == bindparam("contact_id", type_=Integer))
    is_customer = summary.c.n_orders.is_not(None)
    spent = sql.rounded(dialect, cast(summary.c.spent, Float), 2)
    query = (
        select(
            contacts.c.tenant_id,
            contacts.c.id.label("contact_id"),
            func.coalesce(summary.c.n_orders, 0).label("orders_count"),
            func.coalesce(summary.c.spent, 0).label("total_spent"),
            summary.c.first_at.label("first_order_at"),
            summary.c.last_at.label("last_order_at"),
            _quintile(summary.c.last_at, "rfm_r", UTCDateTime).label("rfm_r"),
            _quintile(summary.c.n_orders, "rfm_f", Float).label("rfm_f"),
            _quintile(spent, "rfm_m", Float).label("rfm_m"),
            case((is_customer, sql.rounded(dialect, interval, 6)), else_=None).label("order_interval_days"),
            case((is_customer, expected), else_=None).label("expected_next_order_at"),
            case((is_customer, sql.rounded(dialect, p_active, 6)), else_=None).label("p_active"),
            sql.rounded(dialect, score.c.score_log2, 9).label("score_log2"),
            bindparam("now", type_=UTCDateTime).label("updated_at"),
        )
        .select_from(
            contacts.outerjoin(summary, summary.c.contact_id == contacts.c.id).outerjoin(
                score, score.c.contact_id == contacts.c.id
            )
        )
        .where(*conds)
    )
    fields = METRIC_FIELDS
    if figures:
        found = STAGED.alias("figures")
        query = query.add_columns(
            found.c.orders.label("predicted_orders"), found.c.value.label("predicted_value")
        ).outerjoin_from(contacts, found, found.c.contact_id == contacts.c.id)
        fields = [*METRIC_FIELDS, *FORECAST_FIELDS]
    insert = (pg_insert if dialect == "postgresql" else sqlite_insert)(contact_metrics)
    stmt = insert.from_select([c.name for c in query.selected_columns], query)
    excluded = stmt.excluded
    changed = or_(*(contact_metrics.c[name].is_distinct_from(excluded[name]) for name in fields))
    return stmt.on_conflict_do_update(
        index_elements=["tenant_id", "contact_id"],
        set_={name: excluded[name] for name in [*fields, "updated_at"]},
        where=changed,
    ).execution_options(preserve_rowcount=True)


def refresh_metrics(
    conn: Connection,
    tenant_id: int,
    now: datetime,
    models: Models,
    scoring: ScoringSettings,
    contact_id: int | None = None,
    histories: dict[str, Any] | None = None,
) -> int:
    """Recompute ``contact_metrics`` for the tenant's known contacts (or one); return the rows written
    by the metrics' statement. ``histories``: the ``purchase_histories`` of ``now`` the models were just
    fitted on, when they were (the forecast's figures are computed from them, not read again).

    For the whole tenant on PostgreSQL, the forecast's figures are computed first (numpy) and written
    by the same statement, so that each row is written once (a row inserted then updated in the same
    transaction is written twice and checked twice against its foreign keys); otherwise they are
    updated afterwards, and a row whose forecast alone changed is not counted.
    """
    dialect = conn.dialect.name
    sql.ensure_math(conn)
    params = metrics_params(tenant_id, now, models, scoring, contact_id)
    together = dialect == "postgresql" and contact_id is None and models.forecast is not None
    if together:
        assert models.forecast is not None
        if histories is not None:
            stage_figures(conn, histories_figures(models.forecast, histories))
        else:
            stage_figures(conn, forecast_figures(conn, tenant_id, now, models.forecast))
    stmt = metrics_statement(dialect, models.purchase.kind, scoring, contact_id is not None, together)
    written = conn.execute(stmt, params).rowcount
    if contact_id is None:
        # Contacts no longer known (an email removed) keep no metrics.
        still_known = exists(select(literal(1)).where(contacts.c.id == contact_metrics.c.contact_id, known_contact()))
        conn.execute(contact_metrics.delete().where(and_(contact_metrics.c.tenant_id == tenant_id, ~still_known)))
    if models.forecast is not None and not together:  # else fitted before the forecast existed: the next refresh refits
        refresh_forecasts(conn, tenant_id, now, models.forecast, contact_id)
    return int(written or 0)


def add_score(
    conn: Connection, tenant_id: int, contact_id: int, points: float, when: datetime, half_life_days: float
) -> bool:
    """Add an event's points to a contact's stored score; False when the contact has no metrics row yet."""
    current = conn.execute(
        select(contact_metrics.c.score_log2).where(
            contact_metrics.c.tenant_id == tenant_id, contact_metrics.c.contact_id == contact_id
        )
    ).first()
    if current is None:
        return False
    value = add_points(current.score_log2, points, when, half_life_days)
    conn.execute(
        contact_metrics.update()
        .where(contact_metrics.c.tenant_id == tenant_id, contact_metrics.c.contact_id == contact_id)
        .values(score_log2=None if value is None else round(value, 9))
    )
    return True


@dataclass(frozen=True)
class ContactMetrics:
    """What export and flows read about a contact."""

    score: float
    rfm: dict[str, int] | None
    order_interval_days: float | None
    expected_next_order_at: datetime | None
    p_active: float | None
    orders_count: int = 0
    total_spent: Decimal = Decimal("0")
    predicted_orders: float | None = None
    predicted_value: Decimal | None = None


def metrics_by_contact(
    conn: Connection, tenant_id: int, contact_ids: list[int], now: datetime | None, half_life_days: float
) -> dict[int, ContactMetrics]:
    """The stored metrics of each contact (a batch lookup; contacts without any are left out).

    The score is the score at ``now``, or at the row's last update when ``now`` is None.
    """
    if not contact_ids:
        return {}
    rows = conn.execute(
        select(contact_metrics).where(
            contact_metrics.c.tenant_id == tenant_id, contact_metrics.c.contact_id.in_(contact_ids)
        )
    )
    found: dict[int, ContactMetrics] = {}
    for row in rows:
        rfm = None
        if row.rfm_r is not None:
            rfm = {"r": int(row.rfm_r), "f": int(row.rfm_f), "m": int(row.rfm_m)}
        found[row.contact_id] = ContactMetrics(
            score=round(score_at(row.score_log2, now or row.updated_at, half_life_days), 2),
            rfm=rfm,
            order_interval_days=None if row.order_interval_days is None else round(row.order_interval_days, 1),
            expected_next_order_at=row.expected_next_order_at,
            p_active=None if row.p_active is None else round(row.p_active, 4),
            orders_count=row.orders_count,
            total_spent=row.total_spent,
            predicted_orders=None if row.predicted_orders is None else round(row.predicted_orders, 2),
            predicted_value=None if row.predicted_value is None else row.predicted_value.quantize(Decimal("0.01")),
        )
    return found


def export_fields(
    conn: Connection, tenant_id: int, contact_ids: list[int], now: datetime | None = None
) -> dict[int, dict[str, Any]]:
    """The export's ``segments``, ``score``, ``rfm`` and prediction fields of each contact (a batch lookup)."""
    from core.normalize import isoformat, money_str
    from core.scoring import scoring_settings
    from core.segments.store.membership import segments_by_contact
    from core.store.tenants import get_tenant_by_id

    half_life = scoring_settings(get_tenant_by_id(conn, tenant_id).config.scoring).half_life_days
    found = metrics_by_contact(conn, tenant_id, contact_ids, now, half_life)
    names = segments_by_contact(conn, tenant_id, contact_ids)
    out: dict[int, dict[str, Any]] = {}
    for contact_id in contact_ids:
        metrics = found.get(contact_id)
        expected = metrics.expected_next_order_at if metrics else None
        value = metrics.predicted_value if metrics else None
        out[contact_id] = {
            "segments": names[contact_id],
            "score": metrics.score if metrics else 0.0,
            "rfm": metrics.rfm if metrics else None,
            "order_interval_days": metrics.order_interval_days if metrics else None,
            "expected_next_order_at": isoformat(expected) if expected else None,
            "p_active": metrics.p_active if metrics else None,
            "predicted_orders": metrics.predicted_orders if metrics else None,
            "predicted_value": money_str(value) if value is not None else None,
        }
    return out
