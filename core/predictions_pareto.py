"""The Pareto/NBD purchase model (Schmittlein, Morrison and Colombo 1987), with a stable likelihood.

While active, a customer buys as a Poisson process of rate ``lambda``
(Gamma(``r``, ``alpha``) across customers); their lifetime is exponential of
rate ``mu`` (Gamma(``s``, ``beta``) across customers), so that, unlike the
BG/NBD family, a customer may drop out at any moment, not only just after a
purchase. Time in days; inputs per customer as in ``core.predictions``: ``x``
repeat purchases, ``t_x`` from the first to the last, ``T`` from the first to
now. ``alpha`` (and ``beta``) may be arrays, one value per customer (the rate
covariate of ``core.predictions_forecast``).

The likelihood (Fader and Hardie, "A Note on Deriving the Pareto/NBD Model and
Related Expressions", 2005) is

    L = G(r+x) alpha^r beta^s / G(r) * [ (alpha+T)^-(r+x) (beta+T)^-s + s / (r+s+x) * A0 ]
    A0 = F(t_x) - F(T),  F(t) = 2F1(r+s+x, b; r+s+x+1; (m-n)/(m+t)) / (m+t)^(r+s+x)

with ``m, n`` the larger and the smaller of ``alpha, beta`` and ``b = s + 1``
(``alpha >= beta``) or ``r + x`` (``alpha < beta``). Evaluated as written it
overflows and cancels: ``2F1`` takes huge values as its argument nears 1 (long
histories), ``(m+t)^(r+s+x)`` overflows for a customer with many orders, and
``A0`` is a small difference of two large numbers when ``t_x`` is close to
``T``. Here, in logs:

- Euler's transformation ``2F1(a, b; a+1; z) = (1-z)^(1-b) 2F1(1, a+1-b; a+1; z)``
  leaves a series of positive terms, the first 1 (so the sum is at least 1),
  and ``log F(t)`` becomes a sum of logarithms:
  ``-a log(m+t) + (1-b) log((n+t)/(m+t)) + log 2F1(1, a+1-b; a+1; z)``;
- ``log A0 = log F(t_x) + log1p(-exp(log F(T) - log F(t_x)))``: the difference
  is never formed from two large numbers.

(Pfaff's transformation to a negative argument looks tidier but SciPy's
``hyp2f1`` is often wrong there: checked against quadrature, it missed one case
in five, silently.) With a positive argument SciPy is exact to 1e-6 except that
it returns NaN or infinity for ``a+1-b`` beyond about 150 with ``z`` near 1 (a
customer with a few hundred orders). There, and wherever ``2F1`` comes out
non-finite or below 1, ``A0`` is computed from its definition
``A0 = (r+s+x) * integral from t_x to T of (alpha+u)^-(r+x) (beta+u)^-(s+1) du``
by quadrature (``_log_integral``): in ``v = log(min(alpha, beta) + u)`` the
log-integrand is concave, so, divided by its tangent at the start (an
exponential, integrated exactly), what remains is smooth and at most 1, and
128 Gauss-Legendre nodes give it to about 1e-5 (relative).

SciPy functions: ``scipy.special.hyp2f1`` (2F1), ``gammaln``,
``numpy.polynomial.legendre.leggauss``; the fit (``core.predictions_forecast``)
uses ``scipy.optimize.minimize`` (L-BFGS-B).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.polynomial.legendre import leggauss
from scipy.special import gammaln, hyp2f1

Params = tuple[Any, Any, Any, Any]
#: ``2F1(1, a+1-b; a+1; z)`` is left to quadrature when ``a+1-b`` and ``z`` both exceed these.
RISKY_PARAM, RISKY_Z = 100.0, 0.99
_NODES, _WEIGHTS = leggauss(128)


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def _log_f(a: np.ndarray, b: np.ndarray, m: np.ndarray, n: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``log F(t)`` through Euler's transformation (see the module's docstring); NaN where SciPy fails."""
    z = (m - n) / (m + t)
    series = hyp2f1(1.0, a + 1.0 - b, a + 1.0, z)
    trusted = np.isfinite(series) & (series >= 1.0) & ~((a + 1.0 - b > RISKY_PARAM) & (z > RISKY_Z))
    log_series = np.log(np.where(trusted, series, np.nan))
    return -a * np.log(m + t) + (1.0 - b) * (np.log(n + t) - np.log(m + t)) + log_series


def log_a0(params: Params, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """``log A0``: -inf when ``t_x == T`` (a purchase just now: no room to have dropped out since)."""
    r, alpha, s, beta = _arrays(*params)
    x, t_x, T = _arrays(x, t_x, T)
    alpha, beta, x, t_x, T = np.broadcast_arrays(alpha, beta, x, t_x, T)
    a = r + s + x
    alpha_larger = alpha >= beta
    m = np.where(alpha_larger, alpha, beta)
    n = np.where(alpha_larger, beta, alpha)
    b = np.where(alpha_larger, s + 1.0, r + x)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        at_last, at_now = _log_f(a, b, m, n, t_x), _log_f(a, b, m, n, T)
        out = np.array(at_last + np.log1p(-np.exp(np.minimum(at_now - at_last, 0.0))), dtype=float)
    hard = ~np.isfinite(out) & (T > t_x)
    if hard.any():
        h = hard
        power_n = np.where(alpha_larger, s + 1.0, r + x)[h]  # the exponent of (n + u)
        integral = _log_integral(power_n, a[h] - power_n + 1.0, n[h], m[h] - n[h], t_x[h], T[h])
        out[h] = np.log(a[h]) + integral
    return np.where(T > t_x, out, -np.inf)


def _log_integral(
    power_n: np.ndarray, power_m: np.ndarray, n: np.ndarray, gap: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """``log`` of the integral from ``start`` to ``end`` of ``(n+u)^-power_n (n+gap+u)^-power_m du``.

    In ``v = log(n+u)`` the integrand is ``exp(g(v))``, ``g(v) = (1-power_n) v - power_m log(e^v + gap)``,
    concave. With ``lam = -g'(v0)``: ``exp(g(v0)) * integral of exp(-lam y) exp(R(y)) dy`` over
    ``[0, L]``, ``R <= 0``; the substitution ``y = -log(1 - q (1 - exp(-lam L))) / lam`` makes the
    exponential weight uniform in ``q``, and Gauss-Legendre integrates ``exp(R)`` over ``q``.
    """
    with np.errstate(divide="ignore"):
        log_gap = np.log(gap)
    v0, v1 = np.log(n + start), np.log(n + end)
    length = v1 - v0

    def g(v: np.ndarray) -> np.ndarray:
        return (1.0 - power_n) * v - power_m * np.logaddexp(v, log_gap)

    lam = (power_n - 1.0) + power_m / (1.0 + np.exp(log_gap - v0))
    flat = np.abs(lam * length) < 1e-9
    lam = np.where(flat, 1.0, lam)
    mass = np.where(flat, length, -np.expm1(-lam * length) / lam)
    q = (_NODES[:, None] + 1.0) / 2.0
    y = np.where(flat, q * length, -np.log1p(-q * -np.expm1(-lam * length)) / lam)
    y = np.minimum(y, length)
    remainder = g(v0 + y) - g(v0) + np.where(flat, 0.0, lam * y)
    average = np.sum(_WEIGHTS[:, None] / 2.0 * np.exp(np.minimum(remainder, 0.0)), axis=0)
    return g(v0) + np.log(mass) + np.log(average)


def log_likelihood(params: Params, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Per-customer log-likelihood."""
    r, alpha, s, beta = _arrays(*params)
    x, t_x, T = _arrays(x, t_x, T)
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    dead = np.log(s) - np.log(r + s + x) + log_a0(params, x, t_x, T)
    return head + np.logaddexp(alive, dead)


def p_alive(params: Params, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Probability that each customer is still active at ``T``."""
    r, alpha, s, beta = _arrays(*params)
    x, t_x, T = _arrays(x, t_x, T)
    odds = np.log(s) - np.log(r + s + x) + (r + x) * np.log(alpha + T) + s * np.log(beta + T)
    odds = odds + log_a0(params, x, t_x, T)
    return 1.0 / (1.0 + np.exp(np.minimum(odds, 700.0)))


def expected_purchases(params: Params, t: float, x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Expected number of purchases of each customer in the next ``t`` days.

    ``(r+x)(beta+T) / ((alpha+T)(s-1)) * [1 - ((beta+T)/(beta+T+t))^(s-1)] * P(alive)``,
    with the bracket over ``s - 1`` taken as its limit ``log((beta+T+t)/(beta+T))`` at ``s = 1``.
    """
    r, alpha, s, beta = _arrays(*params)
    x, t_x, T = _arrays(x, t_x, T)
    shrink = np.log(beta + T) - np.log(beta + T + t)  # log of the ratio, < 0
    if abs(float(s) - 1.0) < 1e-9:
        lasting = -shrink
    else:
        lasting = -np.expm1((s - 1.0) * shrink) / (s - 1.0)
    return (r + x) * (beta + T) / (alpha + T) * lasting * p_alive(params, x, t_x, T)
