"""The statistics of the reports, with scipy.

- Difference of two conversion rates: Newcombe's hybrid score interval
  (method 10 of Newcombe 1998), built from each group's Wilson score interval
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``). Unlike the
  textbook Wald interval it keeps its coverage with small groups and rates
  near 0 (a 10 % holdout of a small shop converting at 2 %), and never leaves
  [-1, 1].
- Difference of two means of revenue per contact: Welch's t interval and test
  (``scipy.stats.ttest_ind_from_stats(equal_var=False)``). Revenue per contact
  is mostly zeros with a long tail and the groups differ in size and variance
  (a 10 % holdout against 90 % recipients), which is what Welch's test is made
  for; Student's test assumes equal variances, and with hundreds of contacts
  per group the mean is close enough to normal for a t interval.
- A/B variants: the same Newcombe interval for the difference of rates, with
  the two-sided p-value of the pooled two-proportion z test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    p_value: float | None = None

    def to_dict(self, digits: int = 4) -> dict[str, float | None]:
        return {
            "value": round(self.value, digits),
            "low": round(self.low, digits),
            "high": round(self.high, digits),
            "p_value": None if self.p_value is None else round(self.p_value, 6),
        }


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    ci = stats.binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def proportions_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled z test of p1 = p2 (1.0 when it cannot tell: no success or no failure)."""
    pooled = (k1 + k2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / spread
    return float(2 * stats.norm.sf(abs(z)))


def newcombe(k1: int, n1: int, k2: int, n2: int, confidence: float = CONFIDENCE) -> Interval | None:
    """p1 - p2 with Newcombe's hybrid score interval and the z test's p-value; None if a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    diff = p1 - p2
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(diff, low, high, proportions_p(k1, n1, k2, n2))


def welch(
    mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int, confidence: float = CONFIDENCE
) -> Interval | None:
    """mean1 - mean2 with Welch's t interval and p-value; None when a group has fewer than 2 members."""
    if n1 < 2 or n2 < 2:
        return None
    diff = mean1 - mean2
    se1, se2 = var1 / n1, var2 / n2
    se = math.sqrt(se1 + se2)
    if se == 0:
        return Interval(diff, diff, diff, 1.0 if diff == 0 else 0.0)
    df = (se1 + se2) ** 2 / (se1**2 / (n1 - 1) + se2**2 / (n2 - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
    result = stats.ttest_ind_from_stats(mean1, math.sqrt(var1), n1, mean2, math.sqrt(var2), n2, equal_var=False)
    return Interval(diff, diff - half, diff + half, float(result.pvalue))


def sample_variance(total: float, squares: float, n: int) -> float:
    """The unbiased variance of n values from their sum and sum of squares."""
    if n < 2:
        return 0.0
    return max(0.0, (squares - total * total / n) / (n - 1))
