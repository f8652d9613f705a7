"""Benchmark: our purchase model against BG/NBD on a real purchase history (CDNOW), big and small.

    /tmp/venv/bin/python bench/segments_predictions.py              # about a minute
    /tmp/venv/bin/python bench/segments_predictions.py --draws 50   # more small-shop draws

Data: the CDNOW sample shipped with the tests (2,357 customers, 1997-1998);
the first 39 weeks fit the models, the next 39 weeks check them (Fader, Hardie
and Lee 2005). Models, fitted in the same run:

- ``BG/NBD``: the published model, maximum likelihood (the baseline);
- ``MBG/NBD``: the modified BG/NBD, maximum likelihood;
- ``ours``: MBG/NBD with weak priors (``core.predictions.fit``), intervals from
  the empirical-Bayes gap prior.

Printed for the whole sample, then as medians over ``--draws`` random "small
shops" of 30, 100 and 300 customers: holdout purchases predicted against
actual, mean absolute error of each customer's expected holdout purchases, the
Brier score of "still active" against "bought again in the holdout", and for
the interval between orders the mean absolute log error against the gaps
between each customer's holdout purchases (ours, their raw mean gap, the shop
average). Ratios are ours / BG/NBD (below 1: ours is better).
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import predictions as P  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "segments" / "data" / "CDNOW_sample.txt.gz"
END, HOLDOUT_END = date(1997, 9, 30), date(1998, 6, 30)


def load() -> dict[str, np.ndarray]:
    days: dict[int, set[date]] = {}
    with gzip.open(DATA, "rt") as handle:
        for line in handle:
            customer, _, day, _, _ = line.split()
            days.setdefault(int(customer), set()).add(date(int(day[:4]), int(day[4:6]), int(day[6:])))
    rows = []
    for bought in days.values():
        cal = sorted(d for d in bought if d <= END)
        hold = sorted(d for d in bought if d > END)
        gaps = [(b - a).days for a, b in zip(hold, hold[1:], strict=False)]
        rows.append(
            (len(cal) - 1, (cal[-1] - cal[0]).days, (END - cal[0]).days, len(hold), np.mean(gaps) if gaps else np.nan)
        )
    cols = [np.array(c, dtype=float) for c in zip(*rows, strict=True)]
    return dict(zip(("x", "t_x", "T", "hold", "rhythm"), cols, strict=True))


def evaluate(model: P.PurchaseModel, d: dict[str, np.ndarray], horizon: float) -> dict[str, float]:
    x, t_x, T, hold = d["x"], d["t_x"], d["T"], d["hold"]
    expected = P.expected_purchases(model, horizon, x, t_x, T)
    bought = (hold > 0).astype(float)
    out = {
        "predicted": float(expected.sum()),
        "actual": float(hold.sum()),
        "mae": float(np.mean(np.abs(expected - hold))),
        "brier_active": float(np.mean((P.p_active(model, x, t_x, T) - bought) ** 2)),
    }
    seen = (x >= 1) & ~np.isnan(d["rhythm"])
    if seen.sum() >= 3:
        observed = np.log(d["rhythm"][seen])
        shrunk = P.interval_days(model, x[seen], t_x[seen])
        out["interval"] = float(np.mean(np.abs(np.log(shrunk) - observed)))
        out["interval_raw"] = float(np.mean(np.abs(np.log(t_x[seen] / x[seen]) - observed)))
        out["interval_shop"] = float(np.mean(np.abs(np.log(model.typical_interval_days) - observed)))
    return out


def fit_all(d: dict[str, np.ndarray]) -> dict[str, P.PurchaseModel]:
    x, t_x, T = d["x"], d["t_x"], d["T"]
    return {
        "BG/NBD": P.fit(x, t_x, T, kind="bgnbd", prior=False),
        "MBG/NBD": P.fit(x, t_x, T, kind="mbgnbd", prior=False),
        "ours": P.fit(x, t_x, T),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--draws", type=int, default=20, help="random small shops per size")
    args = parser.parse_args()
    data = load()
    horizon = float((HOLDOUT_END - END).days)
    print(f"CDNOW sample: {len(data['x'])} customers, {int(data['hold'].sum())} holdout purchases")
    started = time.perf_counter()
    models = fit_all(data)
    print(f"three fits in {time.perf_counter() - started:.1f} s")
    for name, model in models.items():
        r = evaluate(model, data, horizon)
        print(
            f"  {name:8s} holdout purchases predicted {r['predicted']:7.1f} of {r['actual']:.0f}  "
            f"MAE {r['mae']:.4f}  Brier(active) {r['brier_active']:.4f}"
        )
    r = evaluate(models["ours"], data, horizon)
    print(
        f"  interval between orders, log-MAE: ours {r['interval']:.3f}, their raw mean gap {r['interval_raw']:.3f}, "
        f"the shop average {r['interval_shop']:.3f}"
    )
    base, ours = (evaluate(models[n], data, horizon) for n in ("BG/NBD", "ours"))
    print(f"RESULT full sample: MAE ratio ours/BG-NBD {ours['mae'] / base['mae']:.3f}, "
          f"Brier(active) ratio {ours['brier_active'] / base['brier_active']:.3f}")  # fmt: skip
    rng = np.random.default_rng(1)
    for size in (30, 100, 300):
        ratios, briers, intervals, raw, shop, broken = [], [], [], [], [], 0
        for _ in range(args.draws):
            pick = rng.choice(len(data["x"]), size=size, replace=False)
            shop_data = {key: value[pick] for key, value in data.items()}
            fitted = fit_all(shop_data)
            results = {n: evaluate(m, shop_data, horizon) for n, m in fitted.items()}
            if not np.isfinite(results["BG/NBD"]["mae"]) or fitted["BG/NBD"].r > 1e3:
                broken += 1
            ratios.append(results["ours"]["mae"] / results["BG/NBD"]["mae"])
            briers.append(results["ours"]["brier_active"] / results["BG/NBD"]["brier_active"])
            if "interval" in results["ours"]:
                intervals.append(results["ours"]["interval"])
                raw.append(results["ours"]["interval_raw"])
                shop.append(results["ours"]["interval_shop"])
        print(
            f"RESULT small shops of {size:3d} ({args.draws} draws, medians): MAE ratio ours/BG-NBD "
            f"{statistics.median(ratios):.3f}, Brier(active) ratio {statistics.median(briers):.3f}, "
            f"interval log-MAE ours {statistics.median(intervals):.3f} / raw gaps {statistics.median(raw):.3f} / "
            f"shop average {statistics.median(shop):.3f}; degenerate BG/NBD fits {broken}"
        )


if __name__ == "__main__":
    main()
