"""The CDNOW sample (``data/``, see its README) summed up per customer for the purchase models.

A purchase is a day a customer bought (several orders of one day are one
purchase, their amounts summed). The first 39 weeks are the calibration
period, the next 39 the holdout, as in Fader, Hardie and Lee (2005).
"""

from __future__ import annotations

import gzip
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

from core import predictions_forecast as F

DATA = Path(__file__).parent / "data" / "CDNOW_sample.txt.gz"
START, END, HOLDOUT_END = date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30)
HOLDOUT_DAYS = (HOLDOUT_END - END).days


@cache
def _purchases() -> tuple[dict[date, float], ...]:
    days: dict[int, dict[date, float]] = {}
    with gzip.open(DATA, "rt") as handle:
        for line in handle:
            customer, _, day, _, amount = line.split()
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            bought = days.setdefault(int(customer), {})
            bought[when] = bought.get(when, 0.0) + float(amount)
    return tuple(days.values())


def load(end: date = END, until: date = HOLDOUT_END) -> dict[str, np.ndarray]:
    """Per customer: ``n`` purchases worth ``spent`` by ``end``, ``t_x`` and ``T`` in days at ``end``;
    ``hold`` purchases worth ``hold_spent`` in (end, until]; ``repeat_value``, the average of the
    purchases after the first (NaN without)."""
    rows = []
    for bought in _purchases():
        cal = sorted(d for d in bought if d <= end)
        hold = [d for d in bought if end < d <= until]
        repeat = [bought[d] for d in cal[1:]]
        rows.append((
            len(cal), sum(bought[d] for d in cal), (cal[-1] - cal[0]).days, (end - cal[0]).days,
            len(hold), sum(bought[d] for d in hold), np.mean(repeat) if repeat else np.nan,
        ))  # fmt: skip
    cols = [np.array(c, dtype=float) for c in zip(*rows, strict=True)]
    return dict(zip(("n", "spent", "t_x", "T", "hold", "hold_spent", "repeat_value"), cols, strict=True))


def history(d: dict[str, np.ndarray]) -> F.History:
    return F.History.of(d["n"], d["spent"], d["t_x"], d["T"])


def calibration_forecast() -> F.Forecast:
    """Our forecast as a shop with the calibration period as its whole history would get it."""
    window = F.window_days((END - START).days)
    now = history(load(END, END))
    before = history(load(END - timedelta(days=window), END))  # every customer had bought by then
    return F.fit_forecast(now, before, now, window)
