"""The purchase and spend models on a real purchase history: the CDNOW sample (2,357 customers, 1997-1998).

The data ships in ``tests/segments/data`` (see its README). Calibration: the
first 39 weeks; holdout: the next 39 weeks, as in Fader, Hardie and Lee (2005).
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import hyp2f1

from core import predictions as P
from core import predictions_forecast as F
from core import predictions_pareto as PNBD
from core import predictions_spend as S
from tests.segments import cdnow as cdnow_data

DATA = Path(__file__).parent / "data" / "CDNOW_sample.txt.gz"
END, HOLDOUT_END = date(1997, 9, 30), date(1998, 6, 30)


@pytest.fixture(scope="module")
def cdnow():
    days: dict[int, set[date]] = {}
    with gzip.open(DATA, "rt") as handle:
        for line in handle:
            customer, _, day, _, _ = line.split()
            days.setdefault(int(customer), set()).add(date(int(day[:4]), int(day[4:6]), int(day[6:])))
    rows = []
    for bought in days.values():
        cal = sorted(d for d in bought if d <= END)
        hold = sorted(d for d in bought if d > END)
        rhythm = np.mean([(b - a).days for a, b in zip(hold, hold[1:], strict=False)]) if len(hold) > 1 else np.nan
        rows.append((len(cal) - 1, (cal[-1] - cal[0]).days, (END - cal[0]).days, len(hold), rhythm))
    x, t_x, T, hold, rhythm = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    return x, t_x, T, hold, rhythm


def test_bgnbd_reproduces_the_published_fit(cdnow):
    """Fader, Hardie and Lee (2005), table 1: r 0.243, alpha 4.414 (weeks), a 0.793, b 2.426; LL -9582.4."""
    x, t_x, T, _, _ = cdnow
    model = P.fit(x, t_x / 7, T / 7, kind="bgnbd", prior=False)
    assert (model.r, model.alpha, model.a, model.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=0.002)
    ll = P.log_likelihood("bgnbd", (model.r, model.alpha, model.a, model.b), x, t_x / 7, T / 7).sum()
    assert ll == pytest.approx(-9582.4, abs=0.1)


def test_our_model_meets_or_beats_bgnbd_on_the_holdout(cdnow):
    x, t_x, T, hold, _ = cdnow
    horizon = (HOLDOUT_END - END).days
    ours = P.fit(x, t_x, T)
    bgnbd = P.fit(x, t_x, T, kind="bgnbd", prior=False)
    mae = {m.kind: np.mean(np.abs(P.expected_purchases(m, horizon, x, t_x, T) - hold)) for m in (ours, bgnbd)}
    assert mae["mbgnbd"] <= mae["bgnbd"]
    assert mae["mbgnbd"] < np.mean(np.abs(x / np.maximum(T, 1) * horizon - hold))  # the naive run rate
    # "Still active" as a classifier of "buys again in the holdout": BG/NBD says 1 for every one-time buyer.
    bought = (hold > 0).astype(float)
    brier = {m.kind: np.mean((P.p_active(m, x, t_x, T) - bought) ** 2) for m in (ours, bgnbd)}
    assert brier["mbgnbd"] < 0.25 < 0.5 < brier["bgnbd"]


def test_shrunk_intervals_predict_the_rhythm_better_than_one_gap_or_the_shop_average(cdnow):
    """The mean gap between a customer's holdout purchases, predicted from the calibration period."""
    x, t_x, T, _, rhythm = cdnow
    model = P.fit(x, t_x, T)
    seen = (x >= 1) & ~np.isnan(rhythm)
    observed = np.log(rhythm[seen])

    def error(predicted):
        return np.mean(np.abs(np.log(predicted) - observed))

    ours = error(P.interval_days(model, x[seen], t_x[seen]))
    assert ours < error(t_x[seen] / x[seen])  # their own gaps taken at face value
    assert ours < error(np.full(seen.sum(), model.typical_interval_days))  # everyone at the shop's average
    one_gap = (x == 1) & ~np.isnan(rhythm)
    raw_one = np.mean(np.abs(np.log(t_x[one_gap]) - np.log(rhythm[one_gap])))
    assert np.mean(np.abs(np.log(P.interval_days(model, 1, t_x[one_gap])) - np.log(rhythm[one_gap]))) < raw_one


def _a0_by_quadrature(r, alpha, s, beta, x, t_x, T):
    """``log A0`` from its definition, ``(r+s+x) * integral of (alpha+u)^-(r+x) (beta+u)^-(s+1)``,
    integrated adaptively in ``log(u)`` pieces growing geometrically from ``t_x`` (independent of
    both ways the model computes it)."""

    def log_f(u):
        return -(r + x) * np.log(alpha + u) - (s + 1) * np.log(beta + u)

    peak = log_f(t_x)
    edges, step = [t_x], 1e-7 * (1 + t_x)
    while edges[-1] + step < T:
        edges.append(edges[-1] + step)
        step *= 1.3
    edges.append(T)
    total = sum(
        quad(lambda u: np.exp(log_f(u) - peak), lo, hi, epsabs=0, epsrel=1e-12, limit=200)[0]
        for lo, hi in zip(edges, edges[1:], strict=False)
    )
    return np.log(r + s + x) + peak + np.log(total)


def test_pareto_nbd_reproduces_the_published_fit(cdnow):
    """Fader, Hardie and Lee (2005): r 0.553, alpha 10.578 (weeks), s 0.606, beta 11.669; LL -9595.0."""
    x, t_x, T, _, _ = cdnow
    history = F.History.of(x + 1, x + 1, t_x / 7, T / 7)
    model = F.fit_orders("pnbd", history, prior=False)
    assert model.params == pytest.approx((0.553, 10.578, 0.606, 11.669), abs=0.002)
    assert PNBD.log_likelihood(model.params, x, t_x / 7, T / 7).sum() == pytest.approx(-9595.0, abs=0.1)


@pytest.mark.parametrize(
    ("params", "x", "t_x", "T"),
    [
        ((0.55, 74.0, 0.61, 82.0), 0, 0.0, 273.0),  # a one-time buyer (CDNOW's days)
        ((0.55, 74.0, 0.61, 82.0), 12, 250.0, 273.0),
        ((0.55, 74.0, 0.61, 82.0), 3, 272.9, 273.0),  # t_x close to T: A0 is a small difference
        ((4.73, 49.3, 15.8, 6.42), 37, 4.04, 46.2),  # SciPy's hyp2f1 is wrong at Pfaff's negative argument
        ((0.3, 30.0, 0.1, 1.8), 3000, 2.09, 7.26),  # 3,000 orders: (m+t)^(r+s+x) alone would overflow
        ((0.54, 391.0, 35.2, 0.32), 3000, 1.72, 9.84),  # SciPy's hyp2f1 gives NaN: by quadrature
        ((0.5, 0.2, 400.0, 900.0), 150, 300.0, 700.0),  # a fit with hardly any spread in lifetimes
    ],
)
def test_pareto_nbd_likelihood_is_stable_where_the_formula_breaks(params, x, t_x, T):
    got = float(PNBD.log_a0(params, x, t_x, T))
    assert got == pytest.approx(_a0_by_quadrature(*params, x, t_x, T), abs=1e-4)
    assert np.isfinite(PNBD.log_likelihood(params, x, t_x, T))
    assert 0 < float(PNBD.p_alive(params, x, t_x, T)) <= 1
    assert np.isfinite(PNBD.expected_purchases(params, 365.0, x, t_x, T))


def test_pareto_nbd_edge_cases():
    params = (0.55, 74.0, 0.61, 82.0)
    assert PNBD.log_a0(params, 4, 100.0, 100.0) == -np.inf  # bought just now: cannot have dropped out since
    assert PNBD.p_alive(params, 4, 100.0, 100.0) == 1.0
    at_one = PNBD.expected_purchases((0.55, 74.0, 1.0, 82.0), 365.0, 2, 50.0, 200.0)  # s = 1: the limit
    near = PNBD.expected_purchases((0.55, 74.0, 1.0 + 1e-7, 82.0), 365.0, 2, 50.0, 200.0)
    assert at_one == pytest.approx(near, rel=1e-5)
    a_at_one = P.expected_purchases_at("mbgnbd", (0.5, 40.0, 1.0, 3.0), 365.0, 2, 50.0, 200.0)  # 0/0 as written
    assert np.isfinite(a_at_one)
    assert a_at_one == pytest.approx(
        P.expected_purchases_at("mbgnbd", (0.5, 40.0, 1.001, 3.0), 365.0, 2, 50.0, 200.0), rel=1e-2
    )


def test_gamma_gamma_reproduces_the_published_fit():
    """Fader, Hardie and Lee (2005, iso-value curves): p 6.25, q 3.74, gamma 15.44 on the 946 repeat buyers."""
    d = cdnow_data.load()
    repeaters = d["n"] > 1
    model = S.fit(d["n"][repeaters] - 1, d["repeat_value"][repeaters], prior=False)
    assert (model.p, model.q, model.gamma) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    assert model.customers == 946
    # One order of 100 against the shop's mean of about 35: pulled towards the mean, more so than ten orders.
    one, ten = S.expected_order_value(model, [1, 10], [100.0, 100.0])
    assert model.mean_order_value < one < ten < 100


def test_a_small_shop_gets_a_sensible_forecast():
    n = [1, 1, 1, 1, 1, 1, 2, 2, 3, 1]
    spent = [20, 35, 50, 20, 80, 30, 70, 40, 90, 25]
    t_x = [0, 0, 0, 0, 0, 0, 3, 40, 60, 0]
    T = [200, 150, 90, 30, 10, 300, 100, 120, 200, 45]
    history = F.History.of(n, spent, t_x, T)
    forecast = F.fit_forecast(history)
    assert forecast.orders.kind == F.DEFAULT_KIND and forecast.scores == {}
    orders, value = F.predict(forecast, history)
    assert np.all(np.isfinite(orders)) and np.all(orders > 0) and np.all(value > 0)
    assert orders[4] > orders[5]  # bought 10 days ago rather than 300
    empty = F.fit_forecast(F.History.of([], [], [], []))
    assert np.isfinite(F.predict(empty, F.History.of([1], [10], [0], [5]))[1]).all()


def test_expected_purchases_as_published_and_finite_for_heavy_buyers():
    r, alpha, a, b, T, t = 0.5, 40.0, 0.9, 2.0, 730.0, 365.0
    x = np.array([0.0, 1, 5, 30, 100, 1000, 10000])
    t_x = np.array([0.0, 20, 300, 600, 729, 729, 729])
    z, decay = t / (alpha + T + t), ((alpha + T) / (alpha + T + t)) ** (r + x)
    with np.errstate(all="ignore"):
        published = {
            "bgnbd": (a + b + x - 1) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x, a + b + x - 1, z)),
            "mbgnbd": (a + b + x) / (a - 1) * (1 - decay * hyp2f1(r + x, b + x + 1, a + b + x, z)),
        }
    for kind, head in published.items():
        expected = head * P.p_active_at(kind, (r, alpha, a, b), x, t_x, T)
        got = P.expected_purchases_at(kind, (r, alpha, a, b), t, x, t_x, T)
        finite = np.isfinite(expected)
        assert not finite.all()  # as published, 2F1 overflows where (1-z)^(r+x) underflows: inf times 0
        assert got[finite] == pytest.approx(expected[finite], rel=1e-8)
        assert np.all(np.isfinite(got)) and np.all(got > 0)


@pytest.mark.parametrize("kind", ["bgnbd", "mbgnbd"])
def test_expected_purchases_stay_finite_for_degenerate_fits(kind):
    """A maximum-likelihood fit without spread in dropout drives a and b to thousands; with a customer of
    thousands of orders both forms of the formula overflow, and the dropout probability is taken at its mean."""
    for a in (0.05, 0.9, 3.0, 300.0, 1e4, 1e6):
        for b in (0.05, 2.0, 1e4):
            got = P.expected_purchases_at(
                kind, (0.5, 40.0, a, b), 365.0, [0, 10, 1000, 10000], [0, 150, 299, 299.9], 300.0
            )
            assert np.all(np.isfinite(got)) and np.all(got >= 0), (a, b, got)


@pytest.mark.parametrize("kind", P.MODELS)
def test_the_likelihood_per_distinct_count_is_the_one_of_each_customer_alone(cdnow, kind):
    """The special functions of the purchase count are evaluated once per distinct count (``per_count``):
    each customer's log-likelihood is exactly the one computed for that customer alone."""
    x, t_x, T, _, _ = cdnow
    params = (0.25, 4.4, 0.8, 2.4)
    together = P.log_likelihood(kind, params, x, t_x / 7, T / 7)
    alone = [
        P.log_likelihood(kind, params, x[i : i + 1], t_x[i : i + 1] / 7, T[i : i + 1] / 7)[0] for i in range(len(x))
    ]
    assert len(np.unique(x)) < len(x) // 10  # the shortcut is taken
    assert np.array_equal(together, np.array(alone))


def _simulated_shop(customers: int, seed: int = 13) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, t_x, T) of customers drawn from the MBG/NBD process: Poisson purchases of Gamma-distributed
    rates, a Beta-distributed chance of dropping out at the first purchase and after each one."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(0.6, 1 / 30.0, customers)  # a purchase every ~50 days on average
    drop = rng.beta(1.0, 3.0, customers)
    T = rng.uniform(30.0, 730.0, customers)
    x, t_x, at = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    alive = rng.random(customers) >= drop
    for _ in range(200):
        at = at + rng.exponential(1.0, customers) / rate
        buys = alive & (at <= T)
        x, t_x = np.where(buys, x + 1, x), np.where(buys, at, t_x)
        alive = buys & (rng.random(customers) >= drop)
    return x, t_x, T


def test_a_model_fitted_on_an_even_sample_stays_close_to_the_full_fit():
    """``fit_models`` fits the purchase model on an even sample of ``FIT_SAMPLE`` customers of a bigger shop:
    the probabilities of being active and the intervals it gives every customer stay close to the full fit's."""
    from core.segments.store.metrics import FIT_SAMPLE

    x, t_x, T = _simulated_shop(4 * FIT_SAMPLE)
    full = P.fit(x, t_x, T)
    step = len(x) // FIT_SAMPLE
    sample = P.fit(x[::step], t_x[::step], T[::step])
    assert sample.customers == FIT_SAMPLE and full.customers == 4 * FIT_SAMPLE
    assert np.max(np.abs(P.p_active(sample, x, t_x, T) - P.p_active(full, x, t_x, T))) < 0.03
    ratio = P.interval_days(sample, x, t_x) / P.interval_days(full, x, t_x)
    assert np.max(np.abs(ratio - 1)) < 0.05


@pytest.mark.parametrize("kind", P.MODELS)
def test_the_likelihoods_gradient_is_its_derivative(cdnow, kind):
    """``core.predictions_gradient`` (what the fits optimise with): the same log-likelihood, and derivatives with
    respect to the log-parameters equal to central differences, with one ``alpha`` per customer too."""
    from core.predictions_gradient import log_likelihood_and_gradient

    x, t_x, T, _, _ = cdnow
    t_x, T = t_x / 7, T / 7
    scales = np.exp(np.random.default_rng(3).normal(0.0, 0.3, len(x)))
    for params in [(0.25, 4.4, 0.8, 2.4), (2.0, 30.0, 0.3, 0.7), (0.5, 4.4 * scales, 1.5, 3.0)]:
        ll, gradient = log_likelihood_and_gradient(kind, params, x, t_x, T, P.per_count(x))
        assert np.array_equal(ll, P.log_likelihood(kind, params, x, t_x, T))
        for i in range(4):

            def moved(step: float, i: int = i, params: tuple = params) -> np.ndarray:
                changed = list(params)
                changed[i] = changed[i] * np.exp(step)
                return P.log_likelihood(kind, tuple(changed), x, t_x, T)

            numeric = (moved(1e-6) - moved(-1e-6)) / 2e-6
            assert gradient[i] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (params, i)


def test_the_fits_with_gradients_reach_the_optimum_a_derivative_free_search_finds(cdnow):
    """The purchase, interval and spend fits optimise with analytic gradients: they end where Nelder-Mead
    (no derivatives at all) ends, on CDNOW."""
    from scipy.optimize import minimize

    x, t_x, T, _, _ = cdnow
    model = P.fit(x, t_x, T)

    def loss(theta):  # the MBG/NBD fit's negative log-posterior, as core.predictions.fit writes it
        centre = P._prior_centre(x, t_x, T, np.ones_like(x))
        ll = P.log_likelihood("mbgnbd", tuple(np.exp(theta)), x, t_x, T).sum()
        return -ll + np.sum((theta - centre) ** 2) / (2 * P.PRIOR_SD**2)

    found = minimize(loss, np.log([model.r, model.alpha, model.a, model.b]) + 0.3, method="Nelder-Mead",
                     options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20000, "maxfev": 20000})  # fmt: skip
    assert (model.r, model.alpha, model.a, model.b) == pytest.approx(tuple(np.exp(found.x)), rel=2e-3)
    k, beta = P.fit_intervals(x, t_x)
    repeat = x > 0
    gap_loss = minimize(
        lambda th: (
            -_interval_ll(np.exp(th), x[repeat], np.maximum(t_x[repeat], 0.5))
            + np.sum((th - np.log([P.PRIOR_GAPS, P.PRIOR_GAPS * t_x[repeat].sum() / x[repeat].sum()])) ** 2)
            / (2 * P.PRIOR_SD**2)
        ),
        np.log([k, beta]) + 0.3,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000},
    )
    assert (k, beta) == pytest.approx(tuple(np.exp(gap_loss.x)), rel=2e-3)
    d = cdnow_data.load()
    repeaters = d["n"] > 1
    n, m = d["n"][repeaters] - 1, d["repeat_value"][repeaters]
    spend = S.fit(n, m, prior=False)
    plain = minimize(
        lambda th: -S.log_likelihood((np.exp(th[0]), 1 + np.exp(th[1]), np.exp(th[2])), n, m).sum(),
        np.log([spend.p, spend.q - 1, spend.gamma]) + 0.3,
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000},
    )
    p, q_1, gamma = np.exp(plain.x)
    assert (spend.p, spend.q, spend.gamma) == pytest.approx((p, 1 + q_1, gamma), rel=2e-3)


def _interval_ll(params, X, S_):
    from scipy.special import gammaln

    k, beta = params
    return np.sum(gammaln(k + X) - gammaln(k) - gammaln(X) + k * np.log(beta) + (X - 1) * np.log(S_)
                  - (k + X) * np.log(beta + S_))  # fmt: skip
