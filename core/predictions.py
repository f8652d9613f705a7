"""Purchase-cycle predictions: typical interval between orders, next order date, probability of being active.

The model is the modified BG/NBD (MBG/NBD, Batislam, Denizel and Filiztekin
2007), a "buy till you die" model fitted per tenant by maximum likelihood:

- while active, a customer buys as a Poisson process of rate ``lambda``; rates
  vary across customers as Gamma(shape ``r``, rate ``alpha``) (days);
- at the start and after each purchase a customer may drop out with a
  probability ``p``, Beta(``a``, ``b``) across customers.

Unlike the plain BG/NBD (Fader, Hardie and Lee 2005, also implemented here for
comparison), a one-time buyer is not assumed to be active forever: their
``p_active`` falls as time passes without a second order.

Small shops and short histories: the fit is a maximum a posteriori estimate
with weak priors centred on the shop's own pooled behaviour, so that a shop
with ten customers still gets finite, sensible parameters; and a customer's
interval is the posterior ``(beta + t_x) / (k + x)``: their own gaps shrunk
towards the shop's typical interval ``beta / k`` by ``k`` pseudo-gaps, rather
than one gap taken at face value. ``Gamma(k, beta)``, the spread of purchase
rates among repeat customers, is fitted on their gaps (empirical Bayes,
``fit_intervals``).

Inputs per customer (days): ``x`` repeat purchases (paid or completed orders
minus one), ``t_x`` time from first to last purchase, ``T`` time from first
purchase to now. Checked on the CDNOW purchase histories in the tests and
``bench/segments_predictions.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, gammaln, hyp2f1
from threadpoolctl import threadpool_limits

from core.predictions_gradient import log_likelihood_and_gradient

A = ParamSpec("A")
R = TypeVar("R")
#: Prior standard deviation of the log-parameters: weak, it matters only for small shops.
PRIOR_SD = 2.0
PRIOR_SHAPE = {"r": 0.5, "a": 1.0, "b": 3.0}
#: Without any customer, the shop's typical interval is taken to be this many days.
DEFAULT_INTERVAL_DAYS = 90.0
#: Centre of the prior weight (in gaps) of the shop's interval in a customer's interval.
PRIOR_GAPS = 2.0
MODELS = ("mbgnbd", "bgnbd")
#: Half-width of the interval around ``a = 1`` where expected purchases are interpolated.
NEAR_ONE = 1e-4


@dataclass(frozen=True)
class PurchaseModel:
    """Fitted parameters (time in days) and how many customers they were fitted on."""

    kind: str
    r: float
    alpha: float
    a: float
    b: float
    customers: int = 0
    #: Gamma prior of repeat customers' purchase rates, fitted on their gaps: shape and rate (days).
    k: float = PRIOR_GAPS
    beta: float = PRIOR_GAPS * DEFAULT_INTERVAL_DAYS

    @property
    def typical_interval_days(self) -> float:
        """The shop's typical interval between a repeat customer's orders (the reciprocal of their mean rate)."""
        return self.beta / self.k

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PurchaseModel:
        return cls(**{key: raw[key] for key in ("kind", "r", "alpha", "a", "b", "customers", "k", "beta")})


@dataclass(frozen=True)
class Prediction:
    order_interval_days: float
    expected_next_order_at: datetime
    p_active: float


def one_blas_thread(fit: Callable[A, R]) -> Callable[A, R]:
    """Run a fit with BLAS on one thread: L-BFGS-B solves systems of four or five unknowns through
    BLAS, where OpenBLAS threads only wait for one another (on a busy two-core machine they made
    the shop's fit more than twice as slow, most of it spent in the optimiser's BLAS calls)."""

    @functools.wraps(fit)
    def fit_on_one_thread(*args: A.args, **kwargs: A.kwargs) -> R:
        with threadpool_limits(limits=1, user_api="blas"):
            return fit(*args, **kwargs)

    return fit_on_one_thread


def default_model(kind: str = "mbgnbd") -> PurchaseModel:
    """The model a shop without customers gets: the priors' centre."""
    r = PRIOR_SHAPE["r"]
    return PurchaseModel(kind, r, r * DEFAULT_INTERVAL_DAYS, PRIOR_SHAPE["a"], PRIOR_SHAPE["b"], 0)


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def per_count(x: np.ndarray) -> tuple[np.ndarray, Any]:
    """The distinct values of ``x`` (purchase counts: few of them) and each element's place among them.

    The likelihoods evaluate their special functions of ``x`` (``gammaln``, ``betaln``) once per
    distinct count and gather them (``f(counts)[where]``): the same numbers, element by element,
    for a fraction of the work. Small inputs are taken as they are.
    """
    if x.size < 64:
        return x, ...
    counts, where = np.unique(x, return_inverse=True)
    return counts, where.reshape(x.shape)


def log_likelihood(kind: str, params: tuple[float, float, float, float], x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Per-customer log-likelihood of the (MBG/NBD or BG/NBD) model."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    counts, where = per_count(x)
    head = gammaln(r + counts)[where] - gammaln(r) + r * np.log(alpha)
    if kind == "mbgnbd":
        alive = betaln(a, b + counts + 1)[where] - betaln(a, b) - (r + x) * np.log(alpha + T)
        dead = betaln(a + 1, b + counts)[where] - betaln(a, b) - (r + x) * np.log(alpha + t_x)
        return head + np.logaddexp(alive, dead)
    alive = betaln(a, b + counts)[where] - betaln(a, b) - (r + x) * np.log(alpha + T)
    with np.errstate(invalid="ignore", divide="ignore"):
        dead = betaln(a + 1, np.maximum(b + counts - 1, 1e-12))[where] - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    dead = np.where(x > 0, dead, -np.inf)
    return head + np.logaddexp(alive, dead)


def _prior_centre(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, w: np.ndarray) -> np.ndarray:
    repeats = float(np.sum(w * x))
    if repeats > 0:
        gap = float(np.sum(w * t_x)) / repeats
    elif len(T):
        gap = max(float(np.median(T)), 1.0)
    else:
        gap = DEFAULT_INTERVAL_DAYS
    r = PRIOR_SHAPE["r"]
    return np.log([r, r * max(gap, 1.0), PRIOR_SHAPE["a"], PRIOR_SHAPE["b"]])


@one_blas_thread
def fit(x: Any, t_x: Any, T: Any, kind: str = "mbgnbd", weights: Any = None, prior: bool = True) -> PurchaseModel:
    """Fit the model to customers' (x, t_x, T) in days; ``prior=False`` gives the plain maximum likelihood."""
    x, t_x, T = _arrays(x, t_x, T)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not len(x):
        return default_model(kind)
    centre = _prior_centre(x, t_x, T, w)
    per = per_count(x)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        params = tuple(np.exp(theta))
        ll, gradient = log_likelihood_and_gradient(kind, params, x, t_x, T, per)  # type: ignore[arg-type]
        value, slope = -float(np.sum(w * ll)), -(gradient @ w)
        if prior:
            value += float(np.sum((theta - centre) ** 2)) / (2 * PRIOR_SD**2)
            slope += (theta - centre) / PRIOR_SD**2
        if not (np.isfinite(value) and np.all(np.isfinite(slope))):
            return 1e300, np.zeros(4)
        return value, slope

    best = None
    for start in (centre, centre + np.array([0.0, 0.0, 0.5, 0.5]), np.zeros(4)):
        result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * 4)
        if best is None or result.fun < best.fun:
            best = result
    assert best is not None
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    k, beta = fit_intervals(x, t_x, w, prior)
    return PurchaseModel(kind, r, alpha, a, b, int(np.sum(w)), k, beta)


def fit_intervals(x: Any, t_x: Any, weights: Any = None, prior: bool = True) -> tuple[float, float]:
    """Fit the Gamma(k, beta) prior of repeat customers' rates to their observed gaps (empirical Bayes).

    Given ``x`` gaps summing to ``t_x`` days, a customer of rate ``lambda`` has
    ``t_x ~ Gamma(x, lambda)``; with ``lambda ~ Gamma(k, beta)`` the marginal
    likelihood is ``G(k+x) / (G(k) G(x)) beta^k t_x^(x-1) / (beta + t_x)^(k+x)``.
    The fit uses the repeat customers only: one-time buyers say nothing about
    the rhythm of those who come back.
    """
    x, t_x = _arrays(x, t_x)
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    repeat = x > 0
    X, S, W = x[repeat], np.maximum(t_x[repeat], 0.5), w[repeat]
    gap = float(np.sum(W * S) / np.sum(W * X)) if len(X) else DEFAULT_INTERVAL_DAYS
    centre = np.log([PRIOR_GAPS, PRIOR_GAPS * max(gap, 1.0)])
    if not len(X):
        return float(np.exp(centre[0])), float(np.exp(centre[1]))

    counts, where = per_count(X)
    fixed = -gammaln(counts)[where] + (X - 1) * np.log(S)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The negative log-posterior and its gradient in ``theta`` (``log k``, ``log beta``)."""
        k, beta = np.exp(theta)
        log_total = np.log(beta + S)
        ll = gammaln(k + counts)[where] - gammaln(k) + k * np.log(beta) + fixed - (k + X) * log_total
        d_k = digamma(k + counts)[where] - digamma(k) + np.log(beta) - log_total
        d_beta = k / beta - (k + X) / (beta + S)
        value, slope = -float(np.sum(W * ll)), -np.array([k * np.sum(W * d_k), beta * np.sum(W * d_beta)])
        if prior:
            value += float(np.sum((theta - centre) ** 2)) / (2 * PRIOR_SD**2)
            slope += (theta - centre) / PRIOR_SD**2
        if not (np.isfinite(value) and np.all(np.isfinite(slope))):
            return 1e300, np.zeros(2)
        return value, slope

    result = minimize(loss, centre, jac=True, method="L-BFGS-B", bounds=[(-8.0, 8.0), (-8.0, 16.0)])
    k, beta = (float(v) for v in np.exp(result.x))
    return k, beta


def p_active(model: PurchaseModel, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Probability that each customer is still active at T."""
    return p_active_at(model.kind, (model.r, model.alpha, model.a, model.b), x, t_x, T)


def p_active_at(kind: str, params: tuple[Any, Any, Any, Any], x: Any, t_x: Any, T: Any) -> np.ndarray:
    """``p_active`` from the parameters ``(r, alpha, a, b)``; ``alpha`` may hold one value per customer."""
    r, alpha, a, b = params
    x, t_x, T = _arrays(x, t_x, T)
    ratio = (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    if kind == "mbgnbd":
        odds = np.log(a / (b + x)) + ratio
        return 1.0 / (1.0 + np.exp(np.minimum(odds, 700)))
    with np.errstate(divide="ignore", invalid="ignore"):
        odds = np.log(a / np.maximum(b + x - 1, 1e-12)) + ratio
    return np.where(x > 0, 1.0 / (1.0 + np.exp(np.minimum(odds, 700))), 1.0)


def interval_days(model: PurchaseModel, x: Any, t_x: Any) -> np.ndarray:
    """Typical interval between each customer's orders: their gaps shrunk towards the shop's.

    The posterior ``(beta + t_x) / (k + x)``: ``x`` observed gaps weigh against
    ``k`` pseudo-gaps of the shop's typical interval ``beta / k``.
    """
    x, t_x = _arrays(x, t_x)
    return (model.beta + t_x) / (model.k + x)


def expected_purchases(model: PurchaseModel, t: float, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Expected number of purchases of each customer in the next ``t`` days."""
    return expected_purchases_at(model.kind, (model.r, model.alpha, model.a, model.b), t, x, t_x, T)


def expected_purchases_at(
    kind: str, params: tuple[Any, Any, Any, Any], t: float, x: Any, t_x: Any, T: Any
) -> np.ndarray:
    """``expected_purchases`` from the parameters ``(r, alpha, a, b)``; ``alpha`` may hold one value per customer.

    The formula is 0/0 at ``a = 1`` (where the prior centres it): near it, the value is interpolated
    between ``a = 1 - NEAR_ONE`` and ``1 + NEAR_ONE``, where it is exact (the function is smooth in ``a``).
    """
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params
    if abs(a - 1.0) < NEAR_ONE:
        below = _expected(kind, (r, alpha, 1.0 - NEAR_ONE, b), t, x, t_x, T)
        above = _expected(kind, (r, alpha, 1.0 + NEAR_ONE, b), t, x, t_x, T)
        weight = (a - 1.0 + NEAR_ONE) / (2 * NEAR_ONE)
        return (1.0 - weight) * below + weight * above
    return _expected(kind, params, t, x, t_x, T)


def _expected(kind: str, params: tuple[Any, Any, Any, Any], t: float, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """As published, ``head * (1 - (1-z)^(r+x) 2F1(r+x, B; C; z)) * p_active`` with ``z = t/(alpha+T+t)``,
    ``B = b+x``, ``C = a+b+x-1`` (BG/NBD) or ``B = b+x+1``, ``C = a+b+x`` (MBG/NBD).

    For a customer with many purchases ``2F1`` overflows while ``(1-z)^(r+x)`` underflows (inf times
    0): Euler's transformation turns the product into ``(1-z)^(a-1) 2F1(C-r-x, a-1; C; z)``, whose
    parameters do not grow with ``x`` but its third. That one overflows in turn when ``a`` is huge
    (a maximum-likelihood fit without spread in dropout); there the published form is finite.
    """
    r, alpha, a, b = params
    z = t / (alpha + T + t)
    log_rest = np.log(alpha + T) - np.log(alpha + T + t)  # log(1 - z)
    if kind == "mbgnbd":
        c, second = a + b + x, b + x + 1
    else:
        c, second = a + b + x - 1, b + x
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        product = np.exp((a - 1) * log_rest) * hyp2f1(c - r - x, a - 1, c, z)
        published = np.exp((r + x) * log_rest) * hyp2f1(r + x, second, c, z)
    product = np.where(np.isfinite(product), product, published)
    expected = c / (a - 1) * (1 - product)
    if not np.all(np.isfinite(expected)):
        # Both overflow only with a in the thousands and a customer of thousands of orders: the dropout
        # probability's posterior Beta(a, c + 1 - a) is then narrow (relative spread below 1/sqrt(a)),
        # and it is taken at its mean p: E[X | active] = (1 - E[exp(-lambda p t)]) / p.
        p = a / (c + 1)
        at_mean = -np.expm1((r + x) * (np.log(alpha + T) - np.log(alpha + T + p * t))) / p
        expected = np.where(np.isfinite(expected), expected, at_mean)
    return expected * p_active_at(kind, params, x, t_x, T)


def predict(model: PurchaseModel, first: datetime, last: datetime, purchases: int, now: datetime) -> Prediction:
    """The prediction for one customer with ``purchases`` orders, the first and the last at those times."""
    day = timedelta(days=1)
    x = max(purchases - 1, 0)
    t_x = max((last - first) / day, 0.0)
    T = max((now - first) / day, t_x)
    interval = float(interval_days(model, x, t_x))
    return Prediction(
        order_interval_days=interval,
        expected_next_order_at=last + timedelta(days=interval),
        p_active=float(p_active(model, x, t_x, T)),
    )
