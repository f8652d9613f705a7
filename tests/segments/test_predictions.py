"""The purchase model on a real purchase history: the CDNOW sample (2,357 customers, 1997-1998).

The data ships in ``tests/segments/data`` (see its README). Calibration: the
first 39 weeks; holdout: the next 39 weeks, as in Fader, Hardie and Lee (2005).
"""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from core import predictions as P

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
