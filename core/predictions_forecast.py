"""Predicted orders and revenue per customer over the next year: the purchase model each shop gets.

``predicted_orders`` is a customer's expected number of paid or completed
orders in the next ``HORIZON_DAYS`` (365) days, from a "buy till you die"
purchase model; ``predicted_value`` is that times their expected order value
(the Gamma-Gamma model of ``core.predictions_spend``).

Candidates, each fitted by maximum a posteriori with the weak priors of
``core.predictions`` (centred on the shop's own pooled behaviour, so that a
small shop gets finite, sensible parameters):

- ``bgnbd``: BG/NBD (Fader, Hardie and Lee 2005), ``mbgnbd``: modified BG/NBD
  (Batislam et al. 2007), both in ``core.predictions``;
- ``pnbd``: Pareto/NBD (Schmittlein, Morrison and Colombo 1987), in
  ``core.predictions_pareto``;
- each with or without the spend covariate: the purchase rate's scale is
  ``alpha_i = alpha exp(-effect z_i)``, ``z_i`` the customer's standardised
  ``log(1 + average order value)`` (Fader and Hardie 2007, time-invariant
  covariates), ``effect`` with a standard normal prior (shrunk towards none).

Which one a shop gets is decided on its own history, without looking ahead:
the last ``window`` days of it (half its span, at most a year) are held out;
every candidate is fitted on the orders before and ranks the customers of then
by their expected orders over the window; the candidate whose ranking best
separates those who did order again in the window from those who did not
(area under the ROC curve, ties counting half) wins, and is refitted on the
whole history. The ranking, because ranking buyers is what the figure is for;
the held-out log-likelihood of the later orders is computed too, for the
record (``Forecast.scores``). A shop with fewer than ``MIN_HELD_OUT`` customers
on either side of that test gets ``DEFAULT_KIND`` without covariate.
Everything is deterministic: the same history gives the same choice and
parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.stats import rankdata

from core import predictions, predictions_pareto, predictions_spend
from core.predictions import DEFAULT_INTERVAL_DAYS, PRIOR_SD, PRIOR_SHAPE
from core.predictions_gradient import log_likelihood_and_gradient
from core.predictions_spend import SpendModel

HORIZON_DAYS = 365.0
KINDS = ("mbgnbd", "bgnbd", "pnbd")
DEFAULT_KIND = "mbgnbd"
#: The held-out window is the last half of the shop's history, at most this long.
MAX_WINDOW_DAYS = 365.0
#: The choice needs this many customers who ordered again in the window, and this many who did not.
MIN_HELD_OUT = 20
#: Prior standard deviation of the spend covariate's effect (per standard deviation of log spend).
EFFECT_PRIOR_SD = 1.0
#: Pareto/NBD prior centre: dropout-rate shape, and a typical lifetime of this many typical gaps.
PRIOR_S, PRIOR_LIFETIME_GAPS = 0.5, 4.0
#: A shop with more customers than this has its candidates compared, and its final fit's starting points
#: tried, on a sample of this many (the same every time); the final fit then ends on every customer. A
#: Pareto/NBD likelihood costs ten times the others' (no gradient: finite differences), and a fit's cost
#: grows with the customers, while what these steps decide (which model, which start) does not need them all.
SAMPLE = 20_000


@dataclass(frozen=True)
class History:
    """Customers' purchase summaries (days): ``n`` paid or completed orders worth ``spent`` in all,
    the first and the last ``t_x`` days apart, the first ``T`` days before the time of the summary."""

    n: np.ndarray
    spent: np.ndarray
    t_x: np.ndarray
    T: np.ndarray

    @classmethod
    def of(cls, n: Any, spent: Any, t_x: Any, T: Any) -> History:
        n, spent, t_x, T = (np.asarray(v, dtype=float).reshape(-1) for v in (n, spent, t_x, T))
        return cls(n, spent, np.maximum(t_x, 0.0), np.maximum(T, np.maximum(t_x, 0.0)))

    @property
    def x(self) -> np.ndarray:
        return np.maximum(self.n - 1.0, 0.0)

    @property
    def log_spend(self) -> np.ndarray:
        """``log(1 + average order value)`` (0 without orders)."""
        average = np.where(self.n > 0, self.spent / np.maximum(self.n, 1.0), 0.0)
        return np.log1p(np.maximum(average, 0.0))

    def take(self, index: Any) -> History:
        return History(self.n[index], self.spent[index], self.t_x[index], self.T[index])

    def __len__(self) -> int:
        return len(self.n)


@dataclass(frozen=True)
class OrderModel:
    """A fitted purchase model: ``params`` are ``(r, alpha, a, b)`` (BG/NBD, MBG/NBD) or
    ``(r, alpha, s, beta)`` (Pareto/NBD), time in days; with the spend covariate, ``effect`` and the
    standardisation of ``log(1 + average order value)`` (``spend_mean``, ``spend_sd``)."""

    kind: str
    params: tuple[float, float, float, float]
    effect: float = 0.0
    spend_mean: float = 0.0
    spend_sd: float = 1.0
    customers: int = 0

    @property
    def name(self) -> str:
        return candidate_name(self.kind, self.effect != 0.0)

    def covariate(self, history: History) -> np.ndarray:
        return (history.log_spend - self.spend_mean) / self.spend_sd

    def customer_params(self, history: History) -> tuple[Any, Any, float, float]:
        """The parameters with ``alpha`` per customer (the covariate's effect on the rate's scale)."""
        r, alpha, a, b = self.params
        if self.effect == 0.0:
            return r, alpha, a, b
        return r, alpha * np.exp(-self.effect * self.covariate(history)), a, b

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "params": list(self.params)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OrderModel:
        values = {key: raw[key] for key in ("kind", "effect", "spend_mean", "spend_sd", "customers")}
        return cls(params=tuple(float(v) for v in raw["params"]), **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Forecast:
    """What a shop's predictions of orders and revenue come from, and how its purchase model was chosen:
    ``scores`` holds each candidate's held-out AUC and log-likelihood over the last ``window_days``
    (empty when the shop's history was too short to choose)."""

    orders: OrderModel
    spend: SpendModel
    window_days: float = 0.0
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    horizon_days: float = HORIZON_DAYS

    def to_dict(self) -> dict[str, Any]:
        return {
            "orders": self.orders.to_dict(),
            "spend": self.spend.to_dict(),
            "window_days": self.window_days,
            "scores": {name: dict(score) for name, score in self.scores.items()},
            "horizon_days": self.horizon_days,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Forecast:
        return cls(
            orders=OrderModel.from_dict(raw["orders"]),
            spend=SpendModel.from_dict(raw["spend"]),
            window_days=float(raw.get("window_days", 0.0)),
            scores={name: dict(score) for name, score in (raw.get("scores") or {}).items()},
            horizon_days=float(raw.get("horizon_days", HORIZON_DAYS)),
        )


def candidate_name(kind: str, spend: bool) -> str:
    return f"{kind}+spend" if spend else kind


def log_likelihood(kind: str, params: tuple[Any, Any, Any, Any], x: Any, t_x: Any, T: Any) -> np.ndarray:
    """Per-customer log-likelihood of a purchase model (``alpha`` may hold one value per customer)."""
    if kind == "pnbd":
        return predictions_pareto.log_likelihood(params, x, t_x, T)
    return predictions.log_likelihood(kind, params, x, t_x, T)  # type: ignore[arg-type]


def expected_orders(model: OrderModel, t: float, history: History) -> np.ndarray:
    """Each customer's expected number of orders in the next ``t`` days."""
    params = model.customer_params(history)
    x, t_x, T = history.x, history.t_x, history.T
    if model.kind == "pnbd":
        return predictions_pareto.expected_purchases(params, t, x, t_x, T)
    return predictions.expected_purchases_at(model.kind, params, t, x, t_x, T)


def _prior_centre(kind: str, history: History, w: np.ndarray) -> np.ndarray:
    x, t_x = history.x, history.t_x
    repeats = float(np.sum(w * x))
    if repeats > 0:
        gap = float(np.sum(w * t_x)) / repeats
    elif len(history):
        gap = max(float(np.median(history.T)), 1.0)
    else:
        gap = DEFAULT_INTERVAL_DAYS
    gap = max(gap, 1.0)
    r = PRIOR_SHAPE["r"]
    if kind == "pnbd":
        return np.log([r, r * gap, PRIOR_S, PRIOR_S * PRIOR_LIFETIME_GAPS * gap])
    return np.log([r, r * gap, PRIOR_SHAPE["a"], PRIOR_SHAPE["b"]])


def sample_of(size: int, limit: int | None = None) -> np.ndarray | None:
    """Indices of ``limit`` (default ``SAMPLE``) of ``size`` customers, the same for the same sizes (None:
    take everyone)."""
    limit = SAMPLE if limit is None else limit
    if size <= limit:
        return None
    return np.sort(np.random.default_rng(size).choice(size, limit, replace=False))


def fit_orders(
    kind: str,
    history: History,
    spend: bool = False,
    weights: Any = None,
    prior: bool = True,
    starts: int = 3,
    sample: int | None = None,
    start: OrderModel | None = None,
) -> OrderModel:
    """Fit a purchase model (``spend``: with the spend covariate); ``prior=False``: plain maximum likelihood.

    The optimiser starts from the prior's centre and, with ``starts`` above 1, from shifted points too,
    keeping the best (on CDNOW they all reach the same optimum; the extra starts guard the final fit).
    ``start``: a model of the same kind whose parameters (and effect) replace the first starting point (the
    fit without the covariate, for the fit with it: the nested model's optimum is near, a third of the steps).
    With more than ``sample`` (default ``SAMPLE``) customers the starts are tried on a sample of them
    (``sample_of``), and the best is carried on to the optimum of everyone's likelihood from there.
    """
    w = np.ones(len(history)) if weights is None else np.asarray(weights, dtype=float)
    centre = _prior_centre(kind, history, w)
    if not len(history):
        return OrderModel(kind, tuple(float(v) for v in np.exp(centre)))  # type: ignore[arg-type]
    log_spend = history.log_spend
    mean = float(np.sum(w * log_spend) / np.sum(w))
    sd = float(np.sqrt(np.sum(w * (log_spend - mean) ** 2) / np.sum(w)))
    spend = spend and sd > 1e-9
    z = (log_spend - mean) / sd if spend else np.zeros(len(history))
    extra = [0.0] if spend else []
    shifts = (np.zeros(4), np.array([0.0, 0.0, 0.5, 0.5]), np.array([0.5, 0.5, -0.5, -0.5]))
    starts_at = [np.array([*(centre + shift), *extra]) for shift in shifts[: max(starts, 1)]]
    if start is not None:
        assert start.kind == kind
        # inside the bounds of the optimiser (a start on or past a bound stalls there)
        first = np.clip(np.log(np.asarray(start.params, dtype=float)), -11.5, 11.5)
        starts_at[0] = np.array([*first, *([start.effect] if spend else [])])
    picked = sample_of(len(history), sample) if len(starts_at) > 1 else None
    if picked is not None:
        tried = _optimum(kind, history.take(picked), w[picked], z[picked], spend, prior, centre, starts_at)
        starts_at = [tried.x]
    best = _optimum(kind, history, w, z, spend, prior, centre, starts_at)
    params = tuple(float(v) for v in np.exp(best.x[:4]))
    if not spend:
        return OrderModel(kind, params, customers=int(np.sum(w)))  # type: ignore[arg-type]
    return OrderModel(kind, params, float(best.x[4]), mean, sd, int(np.sum(w)))  # type: ignore[arg-type]


def _optimum(
    kind: str,
    history: History,
    w: np.ndarray,
    z: np.ndarray,
    spend: bool,
    prior: bool,
    centre: np.ndarray,
    starts_at: list[np.ndarray],
) -> Any:
    """The best of L-BFGS-B's optima of the negative log-posterior from each of ``starts_at``."""
    x, t_x, T = history.x, history.t_x, history.T
    total = float(np.sum(w))
    per = predictions.per_count(x)

    def loss(theta: np.ndarray) -> float:
        """The negative log-posterior per customer: gradients of order 1, so that the optimiser's
        first step stays where the hypergeometric function is finite."""
        r, alpha, a, b = np.exp(theta[:4])
        effect = theta[4] if spend else 0.0
        params = (r, alpha * np.exp(-effect * z) if spend else alpha, a, b)
        with np.errstate(all="ignore"):  # far from the optimum a term may overflow: the value is then refused
            value = -float(np.sum(w * log_likelihood(kind, params, x, t_x, T)))
        if prior:
            value += float(np.sum((theta[:4] - centre) ** 2)) / (2 * PRIOR_SD**2)
            value += effect**2 / (2 * EFFECT_PRIOR_SD**2)
        return value / total if np.isfinite(value) else 1e300

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``loss`` and its gradient (the (M)BG/NBD's, ``core.predictions_gradient``)."""
        r, alpha, a, b = np.exp(theta[:4])
        effect = theta[4] if spend else 0.0
        params = (r, alpha * np.exp(-effect * z) if spend else alpha, a, b)
        with np.errstate(all="ignore"):
            ll, slopes = log_likelihood_and_gradient(kind, params, x, t_x, T, per)
            value, slope = -float(np.sum(w * ll)), -(slopes @ w)
            if spend:  # d alpha_i / d effect = -z_i alpha_i: the log-alpha slope of each customer times -z_i
                slope = np.append(slope, float(np.sum(w * slopes[1] * z)))
        if prior:
            value += float(np.sum((theta[:4] - centre) ** 2)) / (2 * PRIOR_SD**2)
            slope[:4] += (theta[:4] - centre) / PRIOR_SD**2
            value += effect**2 / (2 * EFFECT_PRIOR_SD**2)
            if spend:
                slope[4] += effect / EFFECT_PRIOR_SD**2
        if not (np.isfinite(value) and np.all(np.isfinite(slope))):
            return 1e300, np.zeros(len(theta))
        return value / total, slope / total

    bounds = [(-12.0, 12.0)] * 4 + [(-5.0, 5.0)] * (1 if spend else 0)
    with_gradient = kind != "pnbd"  # the Pareto/NBD's hypergeometric terms have none here: finite differences
    best = None
    for start in starts_at:
        if with_gradient:
            result = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B", bounds=bounds)
        else:
            result = minimize(loss, start, method="L-BFGS-B", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    assert best is not None
    return best


def auc(score: Any, positive: Any) -> float:
    """Area under the ROC curve of ``score`` for the ``positive`` cases (ties count half); NaN with one class."""
    positive = np.asarray(positive, dtype=bool)
    ranks = rankdata(np.asarray(score, dtype=float))
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if not n_pos or not n_neg:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def held_out_scores(model: OrderModel, before: History, after: History, window: float) -> dict[str, float]:
    """How a model fitted on the history up to a cut predicts the ``window`` days after it.

    ``before`` and ``after`` describe the same customers at the cut and at its end. ``auc``: the
    ranking by expected orders in the window against "ordered again in it"; ``log_likelihood``: the
    density of the window's orders given the history before (the model's likelihood of the whole
    history over that of the part before the cut, the covariate as known at the cut).
    """
    params = model.customer_params(before)
    later = log_likelihood(model.kind, params, after.x, after.t_x, after.T)
    earlier = log_likelihood(model.kind, params, before.x, before.t_x, before.T)
    return {
        "auc": round(auc(expected_orders(model, window, before), after.n > before.n), 6),
        "log_likelihood": round(float(np.sum(later - earlier)), 3),
    }


def choose(before: History, after: History, window: float) -> tuple[str, bool, dict[str, dict[str, float]]]:
    """The purchase model (kind, with the spend covariate) that best ranks the window's buyers.

    Candidates in the order of ``KINDS``, each without then with the covariate; ties go to the first.
    Each is fitted on the same ``sample_of`` the customers of a large shop, and ranks them all.
    """
    bought = after.n > before.n
    if min(int(bought.sum()), int((~bought).sum())) < MIN_HELD_OUT:
        return DEFAULT_KIND, False, {}
    picked = sample_of(len(before))
    fitted_on = before if picked is None else before.take(picked)
    scores: dict[str, dict[str, float]] = {}
    best: tuple[float, str, bool] | None = None
    for kind in KINDS:
        plain = None
        for spend in (False, True):
            model = fit_orders(kind, fitted_on, spend, starts=1, start=plain)
            plain = plain or model
            if spend and model.effect == 0.0:
                continue  # spend does not vary: the same as without
            score = held_out_scores(model, before, after, window)
            if not all(np.isfinite(value) for value in score.values()):
                continue  # a fit that went astray: not a candidate
            scores[candidate_name(kind, spend)] = score
            if best is None or score["auc"] > best[0]:
                best = (score["auc"], kind, spend)
    if best is None:
        return DEFAULT_KIND, False, {}
    return best[1], best[2], scores


def window_days(span_days: float) -> float:
    """The held-out window of a shop whose first order is ``span_days`` old."""
    return float(min(MAX_WINDOW_DAYS, max(span_days, 0.0) / 2))


@predictions.one_blas_thread
def fit_forecast(now: History, before: History | None = None, after: History | None = None,
                 window: float = 0.0) -> Forecast:  # fmt: skip
    """Choose and fit the shop's purchase model and spend model.

    ``now``: every customer's history; ``before`` / ``after``: the customers
    who had ordered by the cut ``window`` days ago, at the cut and now (without
    them, the default model).
    """
    if before is not None and after is not None and len(before):
        kind, spend, scores = choose(before, after, window)
    else:
        kind, spend, scores = DEFAULT_KIND, False, {}
    orders = fit_orders(kind, now, spend)
    average = np.where(now.n > 0, now.spent / np.maximum(now.n, 1.0), 0.0)
    spend_model = predictions_spend.fit(now.n, average)
    return Forecast(orders, spend_model, window if scores else 0.0, scores)


def predict(forecast: Forecast, history: History) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's expected orders over the forecast's horizon and the revenue they bring."""
    orders = expected_orders(forecast.orders, forecast.horizon_days, history)
    average = np.where(history.n > 0, history.spent / np.maximum(history.n, 1.0), 0.0)
    value = predictions_spend.expected_order_value(forecast.spend, history.n, average)
    return orders, orders * value
