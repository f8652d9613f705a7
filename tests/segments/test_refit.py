"""The models are refitted when the tenant's data changed enough, not only by age."""

from __future__ import annotations

from datetime import timedelta

from core.pipeline import ingest
from core.segments.store.metrics import count_customers, get_models
from core.segments.store.refresh import CUSTOMER_TYPOLOGIES, refresh_tenant
from tests.conftest import NOW, make_tenant
from tests.core.helpers import order


def _iso(when):
    return when.isoformat().replace("+00:00", "Z")


def test_models_fitted_on_an_empty_shop_are_refitted_once_customers_arrive(engine):
    shop = make_tenant(engine, "fresh")
    with engine.begin() as conn:
        assert refresh_tenant(conn, shop, NOW).refitted
        assert get_models(conn, shop.id).customers == 0 and get_models(conn, shop.id).rfm_m == ()
        later = NOW + timedelta(hours=1)
        ingest(conn, shop, order("o-1", "paid", _iso(later), {"email": "a@example.com"}, total="42.50"), later)
        report = refresh_tenant(conn, shop, later + timedelta(minutes=5))  # hours before REFIT_AFTER
        assert report.refitted
        models = get_models(conn, shop.id)
        assert models.customers == 1 and models.rfm_m != ()
        # the same customer again: nothing changed enough
        again = later + timedelta(hours=1)
        ingest(conn, shop, order("o-2", "paid", _iso(again), {"email": "a@example.com"}, total="10.00"), again)
        assert not refresh_tenant(conn, shop, again + timedelta(minutes=5)).refitted
        # five new customers on top of one: refitted
        for n in range(5):
            ingest(conn, shop, order(f"n-{n}", "paid", _iso(again), {"email": f"n{n}@example.com"}), again)
        assert refresh_tenant(conn, shop, again + timedelta(minutes=10)).refitted
        assert get_models(conn, shop.id).customers == 6
        # what the refresh compares with: counted from the stored metrics or the typologies' members, as the fit counts
        assert count_customers(conn, shop.id) == 6
        assert count_customers(conn, shop.id, CUSTOMER_TYPOLOGIES) == 6
