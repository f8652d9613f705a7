"""The Gamma-Gamma spend model (Fader, Hardie and Lee 2005, "RFM and CLV: Using Iso-Value Curves").

A customer's order values are Gamma(``p``, ``nu``) around their own mean
``p / nu``; ``nu`` varies across customers as Gamma(``q``, ``gamma``). Given
``n`` orders of average value ``m``, the expected value of their next orders is
the posterior mean

    E[M | n, m] = p (gamma + n m) / (p n + q - 1)

a weighted average of the shop's mean order value ``p gamma / (q - 1)`` and
their own ``m``, the weight of their own growing with ``n``. Spend and purchase
frequency are assumed independent given the customer (the model's premise):
expected revenue = expected orders x expected order value.

Every paid or completed order counts, the first included (fixed a priori: the
paper leaves CDNOW's first purchases out, but in a shop the first order is an
order like the others, and most customers have only that one: without it a
one-time buyer would get the shop's mean). Fitted by maximum a posteriori with
weak priors centred on the shop's mean order value, so that a shop with a
handful of customers (or none with a second order) still gets finite,
sensible parameters; ``q > 1`` always (a finite mean).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

#: Prior centres: ``p`` (within-customer spread, coefficient of variation 1/sqrt(p)) and ``q``.
PRIOR_P, PRIOR_Q = 4.0, 4.0
#: Prior standard deviation of the log-parameters (``log p``, ``log(q - 1)``, ``log gamma``).
PRIOR_SD = 2.0
#: Without any order value, the shop's mean order value is taken to be this (only the ratios matter).
DEFAULT_ORDER_VALUE = 50.0


@dataclass(frozen=True)
class SpendModel:
    """Fitted parameters and how many customers they were fitted on."""

    p: float
    q: float
    gamma: float
    customers: int = 0

    @property
    def mean_order_value(self) -> float:
        """The shop's mean order value under the model: ``p gamma / (q - 1)``."""
        return self.p * self.gamma / (self.q - 1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SpendModel:
        return cls(**{key: raw[key] for key in ("p", "q", "gamma", "customers")})


def _arrays(*values: Any) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in values]


def _centre(mean_value: float) -> np.ndarray:
    value = mean_value if mean_value > 0 else DEFAULT_ORDER_VALUE
    return np.log([PRIOR_P, PRIOR_Q - 1.0, value * (PRIOR_Q - 1.0) / PRIOR_P])


def default_model() -> SpendModel:
    p, q_1, gamma = np.exp(_centre(DEFAULT_ORDER_VALUE))
    return SpendModel(float(p), float(1.0 + q_1), float(gamma), 0)


def log_likelihood(params: tuple[float, float, float], n: Any, m: Any) -> np.ndarray:
    """Per-customer log-likelihood of the average order value ``m`` of ``n`` orders (``m > 0``)."""
    p, q, gamma = params
    n, m = _arrays(n, m)
    pn = p * n
    return (
        gammaln(pn + q)
        - gammaln(pn)
        - gammaln(q)
        + q * np.log(gamma)
        + (pn - 1.0) * np.log(m)
        + pn * np.log(n)
        - (pn + q) * np.log(gamma + n * m)
    )


def fit(n: Any, m: Any, weights: Any = None, prior: bool = True) -> SpendModel:
    """Fit to customers' order counts ``n`` and average order values ``m`` (customers without a positive
    average are left out); ``prior=False`` gives the plain maximum likelihood."""
    n, m = _arrays(n, m)
    w = np.ones_like(n) if weights is None else np.asarray(weights, dtype=float)
    keep = (n >= 1) & (m > 0) & np.isfinite(m)
    n, m, w = n[keep], m[keep], w[keep]
    if not len(n):
        return default_model()
    centre = _centre(float(np.sum(w * n * m) / np.sum(w * n)))
    # What does not move with the parameters, once: the terms of the few distinct order counts are
    # evaluated per count and gathered (as core.predictions.per_count does).
    counts, where = np.unique(n, return_inverse=True)
    log_m, log_n = np.log(m), np.log(n)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """The negative log-posterior and its gradient in ``theta`` (``log_likelihood``'s terms derived:
        digammas of ``p n + q``, ``p n`` and ``q``)."""
        p, q_1, gamma = np.exp(theta)
        q = 1.0 + q_1
        pn = p * n
        with np.errstate(all="ignore"):
            log_total = np.log(gamma + n * m)
            ll = (
                (gammaln(p * counts + q) - gammaln(p * counts))[where]
                - gammaln(q)
                + q * np.log(gamma)
                + (pn - 1.0) * log_m
                + pn * log_n
                - (pn + q) * log_total
            )
            both = digamma(p * counts + q)[where]
            d_p = n * (both - digamma(p * counts)[where] + log_m + log_n - log_total)
            d_q = both - digamma(q) + np.log(gamma) - log_total
            d_gamma = q / gamma - (pn + q) / (gamma + n * m)
            value = -float(np.sum(w * ll))
            slope = -np.array([p * np.sum(w * d_p), q_1 * np.sum(w * d_q), gamma * np.sum(w * d_gamma)])
        if prior:
            value += float(np.sum((theta - centre) ** 2)) / (2 * PRIOR_SD**2)
            slope += (theta - centre) / PRIOR_SD**2
        if not (np.isfinite(value) and np.all(np.isfinite(slope))):
            return 1e300, np.zeros(3)
        return value, slope

    bounds = [(-10.0, 10.0), (-10.0, 10.0), (-20.0, 30.0)]
    result = minimize(loss, centre, jac=True, method="L-BFGS-B", bounds=bounds)
    p, q_1, gamma = (float(v) for v in np.exp(result.x))
    return SpendModel(p, 1.0 + q_1, gamma, int(np.sum(w)))


def expected_order_value(model: SpendModel, n: Any, m: Any) -> np.ndarray:
    """Each customer's expected value of a future order, given ``n`` orders of average value ``m``."""
    n, m = _arrays(n, m)
    m = np.maximum(np.nan_to_num(m, nan=0.0), 0.0)
    return model.p * (model.gamma + n * m) / (model.p * n + model.q - 1.0)
