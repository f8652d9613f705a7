"""RFM scores, predictions and lead scores stored per contact agree with an independent computation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import literal, select

from core import predictions
from core.pipeline import ingest
from core.scoring import DEFAULT_POINTS
from core.segments.store import dialect as sql
from core.segments.store.metrics import get_models, metrics_by_contact
from core.segments.store.refresh import refresh_tenant
from core.store.contacts import find_contact_id
from core.store.schema import contacts
from tests.conftest import NOW, make_tenant
from tests.core.helpers import event, order
from tests.segments import oracle

DAY = timedelta(days=1)


def _by_email(conn, tenant_id, now, half_life=30.0):
    ids = dict(conn.execute(select(contacts.c.email, contacts.c.id).where(contacts.c.tenant_id == tenant_id)).all())
    found = metrics_by_contact(conn, tenant_id, [i for e, i in ids.items() if e], now, half_life)
    return {email: found.get(cid) for email, cid in ids.items() if email}


def _quintile(value, values):
    breaks = np.quantile(np.array(values, dtype=float), [0.2, 0.4, 0.6, 0.8], method="inverted_cdf")
    return 1 + sum(1 for b in breaks if value > b)


def test_rfm_predictions_and_scores(engine, shop, people):
    with engine.begin() as conn:
        refresh_tenant(conn, shop, NOW)
        model = get_models(conn, shop.id).purchase
        stored = _by_email(conn, shop.id, NOW)
    customers = [p for p in people if p.email and oracle.paid_orders(p)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    last = {p.email: max(o.at for o in oracle.paid_orders(p)) for p in customers}
    count = {p.email: len(oracle.paid_orders(p)) for p in customers}
    spent = {p.email: round(sum(o.total for o in oracle.paid_orders(p)), 2) for p in customers}
    for person in people:
        if not person.email:
            continue
        got = stored[person.email]
        expected_score = oracle.score(person, NOW, DEFAULT_POINTS)
        assert got.score == pytest.approx(expected_score, abs=0.01), person.email
        if person.email not in last:
            assert got.rfm is None and got.p_active is None and got.order_interval_days is None
            continue
        assert got.rfm == {
            "r": _quintile((last[person.email] - epoch) / DAY, [(t - epoch) / DAY for t in last.values()]),
            "f": _quintile(count[person.email], list(count.values())),
            "m": _quintile(spent[person.email], list(spent.values())),
        }, person.email
        paid = oracle.paid_orders(person)
        first = min(o.at for o in paid)
        days = len(paid)
        expected = predictions.predict(model, first, last[person.email], days, NOW)
        assert got.order_interval_days == pytest.approx(expected.order_interval_days, abs=0.05)
        assert got.p_active == pytest.approx(expected.p_active, abs=1e-4)
        assert abs((got.expected_next_order_at - expected.expected_next_order_at).total_seconds()) < 1


def test_score_decays_by_half_each_half_life_and_follows_events(engine):
    tenant = make_tenant(engine, "score", scoring={"half_life_days": 10, "points": {"email_clicked": 4}})
    with engine.begin() as conn:
        refresh_tenant(conn, tenant, NOW)
        for n in range(3):
            when = NOW - timedelta(days=10 * n)
            ingest(conn, tenant, event("email_clicked", when.isoformat(), {"email": "s@example.com"}), NOW)
        cid = find_contact_id(conn, tenant.id, "s@example.com")
        now_score = metrics_by_contact(conn, tenant.id, [cid], NOW, 10.0)[cid].score
        later = metrics_by_contact(conn, tenant.id, [cid], NOW + timedelta(days=10), 10.0)[cid].score
    assert now_score == pytest.approx(4 + 2 + 1, abs=0.01)
    assert later == pytest.approx(now_score / 2, abs=0.01)


def test_a_small_shop_gets_sensible_predictions():
    """Ten customers, most with one order: finite parameters, and one short gap does not set the interval."""
    x = [0, 0, 0, 0, 0, 0, 1, 1, 2, 0]
    t_x = [0, 0, 0, 0, 0, 0, 3, 40, 60, 0]
    T = [200, 150, 90, 30, 10, 300, 100, 120, 200, 45]
    model = predictions.fit(x, t_x, T)
    assert all(np.isfinite([model.r, model.alpha, model.a, model.b]))
    interval = float(predictions.interval_days(model, 1, 3))  # two orders three days apart
    assert 3 * 3 < interval < model.typical_interval_days, (interval, model)
    p = predictions.p_active(model, [0, 0], [0, 0], [10, 300])
    assert 0 < p[1] < p[0] <= 1  # a one-time buyer fades as time passes


def test_orders_placed_within_the_hour_get_the_same_predictions_as_python(engine):
    """A shop whose every order is minutes old (a freshly seeded store): ``p_active`` is computed as of the
    hour, which precedes those orders; the observation period is then at least the span of the orders (as
    ``predictions.predict`` takes it), never negative (PostgreSQL refused the logarithm of it)."""
    tenant = make_tenant(engine, "fresh")
    now = NOW + timedelta(minutes=40)
    spans = {"a@example.com": [20, 25, 30], "b@example.com": [21], "c@example.com": [22, 35], "d@example.com": [5]}
    with engine.begin() as conn:
        for n, (email, minutes) in enumerate(spans.items()):
            for k, minute in enumerate(minutes):
                when = (NOW + timedelta(minutes=minute)).isoformat()
                ingest(conn, tenant, order(f"o{n}-{k}", "completed", when, {"email": email}), now)
        refresh_tenant(conn, tenant, now)
        model = get_models(conn, tenant.id).purchase
        stored = _by_email(conn, tenant.id, now)
    as_of = now.replace(minute=0)
    for email, minutes in spans.items():
        times = [NOW + timedelta(minutes=m) for m in minutes]
        expected = predictions.predict(model, min(times), max(times), len(times), as_of)
        assert stored[email].p_active is not None, email
        assert stored[email].p_active == pytest.approx(expected.p_active, abs=1e-4), email


def test_log2_is_null_where_its_argument_is_not_positive_in_both_databases(engine):
    """PostgreSQL's ``ln`` raises on a negative number where SQLite's ``log2`` gives NULL: one meaning."""
    with engine.connect() as conn:
        row = conn.execute(select(*(sql.log2(conn.dialect.name, literal(v)) for v in (-1.5, 0.0, 8.0)))).one()
    assert row[0] is None and row[1] is None
    assert row[2] == pytest.approx(3.0)
