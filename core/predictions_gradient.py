"""The (M)BG/NBD log-likelihood with its gradient, for the fits' optimiser (``jac=True``).

L-BFGS-B without a gradient estimates one by finite differences: five
evaluations of the likelihood per step for four parameters. Here the
likelihood of ``core.predictions`` comes with its derivatives with respect to
the log-parameters (what the fits optimise), for about the cost of one more
evaluation. Notation as there: ``A`` (still active at ``T``) and ``D`` (dropped
out just after the last purchase) are the two terms of the likelihood,
``ll = head + logaddexp(A, D)``, so each derivative is the head's plus the
terms' weighted by their shares ``w_A`` and ``w_D`` of the sum. With
``betaln(p, q) = gammaln(p) + gammaln(q) - gammaln(p + q)``, the derivatives
are sums of digammas (``psi``):

- MBG/NBD: ``A = betaln(a, b+x+1) - betaln(a, b) - (r+x) log(alpha+T)``,
  ``D = betaln(a+1, b+x) - betaln(a, b) - (r+x) log(alpha+t_x)``;
- BG/NBD: ``A = betaln(a, b+x) - ...``, ``D = betaln(a+1, b+x-1) - ...`` (none for ``x = 0``).

``alpha`` may hold one value per customer (the spend covariate of
``core.predictions_forecast``): its derivative is then per customer too.
Checked against finite differences in ``tests/segments/test_predictions.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, gammaln


def log_likelihood_and_gradient(
    kind: str, params: tuple[Any, float, float, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
    per: tuple[np.ndarray, Any],
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-customer log-likelihood, and its derivatives with respect to ``log r``, ``log alpha``, ``log a``
    and ``log b`` (rows of a 4 x customers array); ``per`` is ``core.predictions.per_count(x)``, computed once by the caller.

    The same values as ``core.predictions.log_likelihood`` (the same expressions)."""
    r, alpha, a, b = params
    counts, where = per
    log_alive, log_dead = np.log(alpha + T), np.log(alpha + t_x)
    base = betaln(a, b)
    head = gammaln(r + counts)[where] - gammaln(r) + r * np.log(alpha)
    psi_ab, psi_b = digamma(a + b), digamma(b)
    if kind == "mbgnbd":
        alive = betaln(a, b + counts + 1)[where] - base - (r + x) * log_alive
        dead = betaln(a + 1, b + counts)[where] - base - (r + x) * log_dead
        top = digamma(a + b + counts + 1)[where]
        alive_b = digamma(b + counts + 1)[where]
        dead_b = digamma(b + counts)[where]
    else:
        alive = betaln(a, b + counts)[where] - base - (r + x) * log_alive
        with np.errstate(invalid="ignore", divide="ignore"):
            before_last = np.maximum(b + counts - 1, 1e-12)
            dead = betaln(a + 1, before_last)[where] - base - (r + x) * log_dead
            dead_b = digamma(before_last)[where]
        dead = np.where(x > 0, dead, -np.inf)
        top = digamma(a + b + counts)[where]
        alive_b = digamma(b + counts)[where]
    total = np.logaddexp(alive, dead)
    w_alive, w_dead = np.exp(alive - total), np.exp(dead - total)
    d_r = digamma(r + counts)[where] - digamma(r) + np.log(alpha) - (w_alive * log_alive + w_dead * log_dead)
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + T) + w_dead / (alpha + t_x))
    d_a = psi_ab - top + w_dead / a  # digamma(a + 1) - digamma(a) = 1 / a
    d_b = w_alive * alive_b + np.where(w_dead > 0, w_dead * dead_b, 0.0) - top - psi_b + psi_ab
    gradient = np.empty((4, len(x)))
    gradient[0], gradient[1], gradient[2], gradient[3] = r * d_r, alpha * d_alpha, a * d_a, b * d_b
    return head + total, gradient
