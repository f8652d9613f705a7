"""The issue's test: on real purchase histories (CDNOW), ``predicted_orders`` ranks who buys again
better than the published models, and ``predicted_value`` ranks spenders and adds up.

Calibration: the first 39 weeks; holdout: the next 39. Every model is fitted
on the calibration period alone, and ours chooses its purchase model on it too
(its last half held out). ``bench/segments_forecast.py`` prints these figures
with bootstrap intervals.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from core import predictions as P
from core import predictions_forecast as F
from core import predictions_spend as S
from tests.segments import cdnow


@pytest.fixture(scope="module")
def data():
    return cdnow.load()


@pytest.fixture(scope="module")
def forecast():
    return cdnow.calibration_forecast()


def test_predicted_orders_rank_buyers_better_than_bgnbd_and_pareto_nbd(data, forecast):
    now = cdnow.history(data)
    bought = data["hold"] > 0
    orders, _ = F.predict(forecast, now)  # over 365 days, as exported
    ours = F.auc(orders, bought)
    published = {kind: F.fit_orders(kind, now, prior=False) for kind in ("bgnbd", "pnbd")}
    auc = {kind: F.auc(F.expected_orders(m, cdnow.HOLDOUT_DAYS, now), bought) for kind, m in published.items()}
    x, t_x, T = now.x, now.t_x, now.T
    p_active = F.auc(P.p_active(P.fit(x, t_x, T), x, t_x, T), bought)
    assert 0.66 < p_active < 0.72  # the "0.70" for today's p_active
    assert 0.76 < auc["bgnbd"] < 0.78  # the "0.76" for the published BG/NBD
    assert ours > auc["bgnbd"] + 0.005, (ours, auc)  # 0.7810 against 0.7725 when written
    assert ours > auc["pnbd"], (ours, auc)  # 0.7810 against 0.7787
    horizon = F.Forecast(forecast.orders, forecast.spend, horizon_days=cdnow.HOLDOUT_DAYS)
    expected, _ = F.predict(horizon, now)
    assert expected.sum() == pytest.approx(data["hold"].sum(), rel=0.15)  # 1651 of 1882


def test_predicted_value_ranks_spenders_and_adds_up(data, forecast):
    now = cdnow.history(data)
    spend = data["hold_spent"]
    horizon = F.Forecast(forecast.orders, forecast.spend, horizon_days=cdnow.HOLDOUT_DAYS)
    _, value = F.predict(horizon, now)
    # The baseline: the published BG/NBD times the Gamma-Gamma fitted as in the paper (repeat purchases).
    repeaters = data["n"] > 1
    gg = S.fit(data["n"][repeaters] - 1, data["repeat_value"][repeaters], prior=False)
    per_order = np.where(repeaters, S.expected_order_value(gg, data["n"] - 1, data["repeat_value"]), 0.0)
    per_order = np.where(repeaters, per_order, gg.mean_order_value)
    baseline = F.expected_orders(F.fit_orders("bgnbd", now, prior=False), cdnow.HOLDOUT_DAYS, now) * per_order
    rho, rho_baseline = spearmanr(value, spend).statistic, spearmanr(baseline, spend).statistic
    assert rho > rho_baseline + 0.01, (rho, rho_baseline)  # 0.447 against 0.426
    top = spend >= np.quantile(spend, 0.9)
    assert F.auc(value, top) > F.auc(baseline, top) + 0.02  # 0.843 against 0.807
    assert value.sum() == pytest.approx(spend.sum(), rel=0.2)  # 61,282 of 70,976 dollars


def test_the_choice_is_made_on_the_calibration_period_and_is_repeatable(forecast):
    assert forecast.window_days == 136
    assert set(forecast.scores) == {F.candidate_name(k, s) for k in F.KINDS for s in (False, True)}
    best = max(forecast.scores, key=lambda name: forecast.scores[name]["auc"])
    assert forecast.orders.name == best == "pnbd+spend"
    calibration = cdnow.history(cdnow.load(cdnow.END, cdnow.END))
    assert F.fit_orders("pnbd", calibration, spend=True) == forecast.orders  # the same fit again, to the bit
