"""``predicted_orders`` and ``predicted_value`` stored per contact: computed by the full refresh and as a
contact orders, chosen per tenant on its own history, exported; on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from core import predictions_forecast as F
from core.pipeline import ingest
from core.scoring import scoring_settings
from core.sections import validate_tenant
from core.segments.store.forecasts import refresh_forecasts
from core.segments.store.metrics import get_models, refresh_metrics
from core.segments.store.refresh import refresh_tenant
from core.segments.store.schema import contact_metrics, segment_models
from core.store.db import alembic_config, make_engine
from core.store.export import CONTACT_FIELDS, iter_contacts
from core.store.registry import all_metadata
from core.store.schema import contacts
from core.store.tenants import upsert_tenant
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order
from tests.segments import oracle

DAY = timedelta(days=1)
AS_OF = NOW.replace(minute=0, second=0, microsecond=0)


def _iso(when):
    return when.isoformat().replace("+00:00", "Z")


def _stored(conn, tenant_id):
    """email: (predicted_orders, predicted_value) as stored."""
    rows = conn.execute(
        select(contacts.c.email, contact_metrics.c.predicted_orders, contact_metrics.c.predicted_value)
        .join(contacts, contacts.c.id == contact_metrics.c.contact_id)
        .where(contact_metrics.c.tenant_id == tenant_id)
    )
    return {email: (orders, value) for email, orders, value in rows}


def _expected(forecast, paid, as_of):
    """The figures of one customer with these paid orders (time, total), computed in Python."""
    first, last = min(at for at, _ in paid), max(at for at, _ in paid)
    history = F.History.of(
        [len(paid)], [sum(total for _, total in paid)], [(last - first) / DAY], [(as_of - first) / DAY]
    )
    orders, value = F.predict(forecast, history)
    return float(orders[0]), float(value[0])


def test_the_refresh_stores_every_customers_forecast(engine, shop, people):
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        forecast = get_models(conn, shop.id).forecast
        stored = _stored(conn, shop.id)
    customers = 0
    for person in people:
        if not person.email:
            continue
        paid = [(o.at, o.total) for o in oracle.paid_orders(person)]
        if not paid:
            assert stored[person.email] == (None, None), person.email
            continue
        customers += 1
        orders, value = _expected(forecast, paid, AS_OF)
        assert stored[person.email][0] == pytest.approx(orders, rel=1e-6, abs=1e-6), person.email
        assert float(stored[person.email][1]) == pytest.approx(value, abs=0.006), person.email
    assert customers >= 10


def _history_shop(engine):
    """150 customers buying at their own pace for up to two years, some of them stopping: enough to
    choose the purchase model on the shop's last year. Returns the tenant and each email's paid orders."""
    tenant = make_tenant(engine, "history")
    rng = random.Random(7)
    placed = []
    for i in range(150):
        when = NOW - timedelta(days=760 if i == 0 else rng.uniform(20, 720))  # the shop opened 760 days ago
        rate, stop = rng.choice([30, 90, 200, 400]), when + timedelta(days=rng.expovariate(1 / 300))
        k = 0
        while when < NOW - timedelta(hours=2) and (k == 0 or when < stop):
            placed.append((when, f"c{i}@example.com", f"o{i}-{k}", round(rng.uniform(10, 90), 2)))
            when += timedelta(days=rng.expovariate(1 / rate))
            k += 1
    placed.sort()
    with engine.begin() as conn:
        for when, email, order_id, total in placed:
            ingest(conn, tenant, order(order_id, "paid", _iso(when), {"email": email}, total=f"{total:.2f}"), NOW)
    paid: dict[str, list] = {}
    for when, email, _, total in placed:
        paid.setdefault(email, []).append((when, total))
    return tenant, paid


def _summaries(paid, at):
    rows = []
    for orders in paid.values():
        before = [(w, v) for w, v in orders if w <= at]
        if before:
            first, last = before[0][0], before[-1][0]
            rows.append((len(before), sum(v for _, v in before), (last - first) / DAY, (at - first) / DAY))
    return F.History.of(*zip(*rows, strict=True))


def test_the_purchase_model_is_chosen_on_the_shops_own_last_year(engine):
    tenant, paid = _history_shop(engine)
    with engine.begin() as conn:
        refresh_tenant(conn, tenant, NOW)
        forecast = get_models(conn, tenant.id).forecast
    first = min(w for orders in paid.values() for w, _ in orders)
    window = F.window_days((NOW - first) / DAY)
    assert forecast.window_days == pytest.approx(window) and window == 365
    assert len(forecast.scores) == 6  # three models, with and without the spend covariate
    assert forecast.orders.name == max(forecast.scores, key=lambda name: forecast.scores[name]["auc"])
    # The same choice and fit from the same histories summed up in Python: the query is right.
    cut = NOW - timedelta(days=window)
    customers = [email for email, orders in paid.items() if orders[0][0] <= cut]
    expected = F.fit_forecast(
        _summaries(paid, NOW), _summaries(paid, cut), _summaries({e: paid[e] for e in customers}, NOW), window
    )
    assert forecast.orders.name == expected.orders.name
    assert forecast.orders.params == pytest.approx(expected.orders.params, rel=1e-3)
    assert {n: s["auc"] for n, s in forecast.scores.items()} == pytest.approx(
        {n: s["auc"] for n, s in expected.scores.items()}, abs=1e-4
    )


def test_a_new_order_updates_the_forecast_at_once_as_the_full_refresh_would(engine, shop, people):
    later = NOW + timedelta(minutes=5)
    buyer = next(p for p in people if p.email and len(oracle.paid_orders(p)) == 1)
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        forecast = get_models(conn, shop.id).forecast
        before = _stored(conn, shop.id)[buyer.email]
        ingest(conn, shop, order("again-1", "paid", _iso(later), {"email": buyer.email}, total="30.00"), later)
        after = _stored(conn, shop.id)[buyer.email]
    paid = [(o.at, o.total) for o in oracle.paid_orders(buyer)] + [(later, 30.0)]
    orders, value = _expected(forecast, paid, AS_OF)
    assert after[0] == pytest.approx(orders, rel=1e-6) and float(after[1]) == pytest.approx(value, abs=0.006)
    assert after[0] > before[0]  # a second order, just now
    with engine.begin() as conn:
        report = refresh_tenant(conn, shop, later, metrics=True)
        assert not report.refitted
        assert _stored(conn, shop.id)[buyer.email] == after


def test_the_figures_written_with_the_metrics_are_those_computed_from_the_stored_metrics(engine, shop, people):
    """On PostgreSQL the whole-tenant refresh writes the forecast with the other metrics (computed from the
    orders); the update from the stored metrics (the path of SQLite and of one contact) then changes nothing."""
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        models = get_models(conn, shop.id)
        stored = _stored(conn, shop.id)
        conn.execute(contact_metrics.update().values(predicted_orders=None, predicted_value=None))
        assert refresh_forecasts(conn, shop.id, NOW, models.forecast) == sum(v != (None, None) for v in stored.values())
        assert _stored(conn, shop.id) == stored
        assert refresh_forecasts(conn, shop.id, NOW, models.forecast) == 0
        later = NOW + timedelta(hours=3)  # as of another hour: every customer's figures move
        refresh_metrics(conn, shop.id, later, models, scoring_settings(shop.config.scoring))
        moved = _stored(conn, shop.id)
        assert moved != stored
        assert refresh_forecasts(conn, shop.id, later, models.forecast) == 0


def test_an_empty_tenant_and_a_tenant_with_one_buyer(engine):
    empty = make_tenant(engine, "empty")
    with engine.begin() as conn:
        refresh_tenant(conn, empty, NOW)
        forecast = get_models(conn, empty.id).forecast
        assert forecast.orders.kind == F.DEFAULT_KIND and forecast.scores == {}
        assert list(iter_contacts(conn, empty.id, "EUR", NOW)) == []
    one = make_tenant(engine, "one")
    with engine.begin() as conn:
        ingest(conn, one, order("o-1", "paid", _iso(NOW - 40 * DAY), {"email": "a@example.com"}, total="42.50"), NOW)
        ingest(conn, one, event("newsletter_subscribed", _iso(NOW - DAY), {"email": "b@example.com"}), NOW)
        refresh_tenant(conn, one, NOW)
        forecast = get_models(conn, one.id).forecast
        rows = {row["email"]: row for row in iter_contacts(conn, one.id, "EUR", NOW)}
    orders, value = _expected(forecast, [(NOW - 40 * DAY, 42.5)], AS_OF)
    assert 0 < orders < 10 and np.isfinite(value)
    buyer = rows["a@example.com"]
    assert buyer["predicted_orders"] == round(orders, 2)
    assert re.fullmatch(r"\d+\.\d{2}", buyer["predicted_value"]) and float(buyer["predicted_value"]) > 0
    assert float(buyer["predicted_value"]) == pytest.approx(value, abs=0.006)
    assert rows["b@example.com"]["predicted_orders"] is None and rows["b@example.com"]["predicted_value"] is None


def test_models_stored_before_the_forecast_are_refitted_by_the_next_refresh(engine, shop, people):
    """As after the migration: the stored models have no forecast and every figure is NULL."""
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        params = conn.execute(select(segment_models.c.params).where(segment_models.c.tenant_id == shop.id)).scalar()
        old = {key: value for key, value in params.items() if key != "forecast"}
        conn.execute(segment_models.update().where(segment_models.c.tenant_id == shop.id).values(params=old))
        conn.execute(contact_metrics.update().values(predicted_orders=None, predicted_value=None))
    later = NOW + timedelta(minutes=10)
    buyer = next(p for p in people if p.email and oracle.paid_orders(p))
    with engine.begin() as conn:
        assert get_models(conn, shop.id).forecast is None
        # An order before the refit updates the other metrics; the forecast waits for its model.
        ingest(conn, shop, order("before-refit", "paid", _iso(later), {"email": buyer.email}), later)
        assert _stored(conn, shop.id)[buyer.email] == (None, None)
        report = refresh_tenant(conn, shop, later)
        assert report.refitted and get_models(conn, shop.id).forecast is not None
        assert _stored(conn, shop.id)[buyer.email][0] > 0


def test_the_export_lists_the_forecast_after_p_active():
    assert CONTACT_FIELDS[CONTACT_FIELDS.index("p_active") :] == ["p_active", "predicted_orders", "predicted_value"]


def test_the_migration_adds_the_columns_to_existing_metrics_and_removes_them(fresh_url):
    engine = make_engine(fresh_url)
    config = alembic_config(engine)
    command.upgrade(config, "heads")
    with engine.begin() as conn:
        tenant, _ = upsert_tenant(
            conn, validate_tenant({"name": "m", "platform": "woocommerce", "url": "https://m.example.com"}), NOW
        )
        cid = conn.execute(
            contacts.insert()
            .values(tenant_id=tenant.id, email="m@example.com", attributes={}, created_at=NOW, updated_at=NOW)
            .returning(contacts.c.id)
        ).scalar_one()
        row = {
            "tenant_id": tenant.id,
            "contact_id": cid,
            "orders_count": 2,
            "total_spent": Decimal("20"),
            "updated_at": NOW,
        }
        conn.execute(contact_metrics.insert().values(**row, predicted_orders=1.5, predicted_value=Decimal("12.34")))

    def columns():
        with engine.connect() as conn:
            return {c["name"] for c in sa.inspect(conn).get_columns("contact_metrics")}

    command.downgrade(config, "0005")  # the segments' tables as they were before the forecast
    assert not {"predicted_orders", "predicted_value"} & columns()
    command.upgrade(config, "heads")
    assert {"predicted_orders", "predicted_value"} <= columns()
    with engine.connect() as conn:
        kept = conn.execute(select(contact_metrics).where(contact_metrics.c.contact_id == cid)).one()
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), all_metadata())
    assert (kept.orders_count, kept.predicted_orders, kept.predicted_value) == (2, None, None)
    assert diff == []
    engine.dispose()


def _flat(chunks) -> list[tuple]:
    """(contact id, predicted_orders, predicted_value) of chunks of figures, in contact id order."""
    return sorted(row for ids, figures, values in chunks for row in zip(ids, figures, values, strict=True))


def test_the_customers_are_read_in_chunks_as_they_would_be_at_once(engine, shop, monkeypatch):
    """``purchase_histories``, ``forecast_figures`` and ``histories_figures`` go through the customers ``CHUNK``
    at a time (a big shop's every customer is never held as Python rows or objects): the same arrays and
    figures, whatever the chunk; the times of the last orders kept exactly (to the microsecond); the figures
    computed from the histories the models were fitted on are those read again from the orders."""
    from core.segments.store import forecasts

    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        forecast = get_models(conn, shop.id).forecast
        whole = forecasts.purchase_histories(conn, shop.id, NOW, 100.0)
        figures = _flat(forecasts.forecast_figures(conn, shop.id, NOW, forecast))
        assert len(list(forecasts.forecast_figures(conn, shop.id, NOW, forecast))) == 1
        monkeypatch.setattr(forecasts, "CHUNK", 3)
        chunked = forecasts.purchase_histories(conn, shop.id, NOW, 100.0)
        assert len(list(forecasts.forecast_figures(conn, shop.id, NOW, forecast))) > 3
        assert _flat(forecasts.forecast_figures(conn, shop.id, NOW, forecast)) == figures
        assert _flat(forecasts.histories_figures(forecast, whole)) == figures
        conn.execute(sa.update(contact_metrics).values(predicted_orders=None, predicted_value=None))
        refresh_tenant(conn, shop, NOW, metrics=True)  # the figures staged 3 at a time
        last = dict(
            conn.execute(
                select(contact_metrics.c.contact_id, contact_metrics.c.last_order_at).where(
                    contact_metrics.c.tenant_id == shop.id, contact_metrics.c.orders_count > 0
                )
            ).all()
        )
        stored = conn.execute(
            select(contact_metrics.c.contact_id, contact_metrics.c.predicted_orders, contact_metrics.c.predicted_value)
            .where(contact_metrics.c.tenant_id == shop.id, contact_metrics.c.orders_count > 0)
            .order_by(contact_metrics.c.contact_id)
        ).all()
    assert len(whole["n"]) == len(figures) == len(last) >= 10
    assert [tuple(row) for row in stored] == figures  # what the refresh wrote, chunk by chunk
    assert whole.keys() == chunked.keys()
    assert all(np.array_equal(whole[key], chunked[key], equal_nan=True) for key in whole)
    assert [forecasts.from_micros(value) for value in whole["last"]] == [last[i] for i in sorted(last)]


def test_the_stored_figures_are_refreshed_in_chunks_as_they_would_be_at_once(engine, shop, people, monkeypatch):
    """``refresh_forecasts`` reads, computes and writes ``FORECAST_CHUNK`` contacts at a time (by contact id):
    every contact's figures written, the same as in one chunk, and the count of changed rows the same."""
    from core.segments.store import forecasts

    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        models = get_models(conn, shop.id)
        stored = _stored(conn, shop.id)
        customers = sum(v != (None, None) for v in stored.values())
        assert customers >= 10
        monkeypatch.setattr(forecasts, "FORECAST_CHUNK", 3)
        conn.execute(contact_metrics.update().values(predicted_orders=None, predicted_value=None))
        assert refresh_forecasts(conn, shop.id, NOW, models.forecast) == customers
        assert _stored(conn, shop.id) == stored
        assert refresh_forecasts(conn, shop.id, NOW, models.forecast) == 0
        # a chunk whose contacts all changed, then one whose contacts did not: both are written or skipped
        first = min(conn.execute(select(contact_metrics.c.contact_id).where(contact_metrics.c.orders_count > 0)))[0]
        conn.execute(
            contact_metrics.update().where(contact_metrics.c.contact_id == first).values(predicted_orders=None)
        )
        assert refresh_forecasts(conn, shop.id, NOW, models.forecast) == 1
        assert _stored(conn, shop.id) == stored
