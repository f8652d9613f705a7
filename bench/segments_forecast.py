"""Benchmark: who buys again, and for how much? ``predicted_orders`` and ``predicted_value`` on CDNOW.

    .venv/bin/python bench/segments_forecast.py                  # 2.5 CPU minutes, mostly the small shops
    .venv/bin/python bench/segments_forecast.py --draws 0        # the whole sample only: under 30 s
    .venv/bin/python bench/segments_forecast.py --boot 5000      # tighter intervals

Data: the CDNOW sample shipped with the tests (2,357 customers who first bought
in the first quarter of 1997; see tests/segments/data/README.md). Purchases are
the days a customer bought (several orders of one day are one purchase, their
amounts summed). The first 39 weeks (to 1997-09-30) are the calibration period,
the next 39 weeks (to 1998-06-30) the holdout, as in Fader, Hardie and Lee
(2005). Nothing of the holdout is used by any fit or choice.

Ranking "buys again in the holdout" (area under the ROC curve, ties counting
half; 95 % percentile bootstrap intervals over customers, and paired intervals
of the differences), each model fitted on the calibration period:

- ``p_active``: the stored figure (MBG/NBD with weak priors, ``core.predictions.fit``);
- ``BG/NBD E[X]``, ``MBG/NBD E[X]``, ``Pareto/NBD E[X]``: each published model,
  maximum likelihood, expected purchases over the holdout;
- ``ours``: ``predicted_orders`` as the export computes it
  (``core.predictions_forecast.fit_forecast``): the purchase model chosen on the
  calibration period alone (its last half held out, see that module), over the
  holdout's 273 days and over the export's 365 days.

Revenue (``predicted_value`` = expected orders x Gamma-Gamma expected order
value) against the holdout spend: Spearman correlation, AUC for being a top
spender (top 10 % of holdout spend), total predicted against actual. Baselines:
each published model's expected purchases times the Gamma-Gamma fitted as in
Fader, Hardie and Lee (repeat purchases only, maximum likelihood; one-time
buyers get the mean), and the naive run rate (calibration spend per day times
the holdout's days).

Then, as medians over ``--draws`` random "small shops" of 100, 300 and 1,000
of these customers (each choosing its own model on its own calibration
period): the AUC of ours, of the BG/NBD and of the Pareto/NBD, and how often
ours was at least as good as the BG/NBD.
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import predictions as P  # noqa: E402
from core import predictions_forecast as F  # noqa: E402
from core import predictions_spend as S  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "tests" / "segments" / "data" / "CDNOW_sample.txt.gz"
START, END, HOLDOUT_END = date(1997, 1, 1), date(1997, 9, 30), date(1998, 6, 30)


def load(end: date, until: date) -> dict[str, np.ndarray]:
    """Per customer (days): summaries at ``end``, purchases and spend in (end, until]."""
    days: dict[int, dict[date, float]] = {}
    with gzip.open(DATA, "rt") as handle:
        for line in handle:
            customer, _, day, _, amount = line.split()
            when = date(int(day[:4]), int(day[4:6]), int(day[6:]))
            bought = days.setdefault(int(customer), {})
            bought[when] = bought.get(when, 0.0) + float(amount)
    rows = []
    for bought in days.values():
        cal = sorted(d for d in bought if d <= end)
        hold = [d for d in bought if end < d <= until]
        repeat = [bought[d] for d in cal[1:]]
        rows.append((
            len(cal), sum(bought[d] for d in cal), (cal[-1] - cal[0]).days, (end - cal[0]).days,
            len(hold), sum(bought[d] for d in hold), np.mean(repeat) if repeat else np.nan,
        ))  # fmt: skip
    cols = [np.array(c, dtype=float) for c in zip(*rows, strict=True)]
    return dict(zip(("n", "spent", "t_x", "T", "hold", "hold_spent", "repeat_value"), cols, strict=True))


def auc_boot(scores: dict[str, np.ndarray], positive: np.ndarray, draws: int) -> dict[str, np.ndarray]:
    """Each score's AUC on ``draws`` bootstrap resamples of the customers (the same resamples for all)."""
    rng = np.random.default_rng(20050301)
    out = {name: np.empty(draws) for name in scores}
    for i in range(draws):
        pick = rng.integers(0, len(positive), len(positive))
        for name, score in scores.items():
            out[name][i] = F.auc(score[pick], positive[pick])
    return out


def ci(values: np.ndarray) -> str:
    low, high = np.percentile(values, [2.5, 97.5])
    return f"[{low:.4f}, {high:.4f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--draws", type=int, default=20, help="random small shops per size")
    args = parser.parse_args()
    d = load(END, HOLDOUT_END)
    horizon = float((HOLDOUT_END - END).days)
    x, t_x, T = d["n"] - 1, d["t_x"], d["T"]
    bought = d["hold"] > 0
    print(f"CDNOW: {len(x)} customers, {bought.sum()} bought again in the holdout ({int(d['hold'].sum())} purchases)")

    started = time.perf_counter()
    now = F.History.of(d["n"], d["spent"], t_x, T)
    window = F.window_days((END - START).days)
    early = load(END - timedelta(days=window), END)
    before = F.History.of(early["n"], early["spent"], early["t_x"], early["T"])  # every customer had bought by then
    forecast = F.fit_forecast(now, before, now, window)
    print(f"ours: fitted and chosen in {time.perf_counter() - started:.1f} s, on the calibration period only; "
          f"held out its last {window:.0f} days:")  # fmt: skip
    for name, score in forecast.scores.items():
        mark = "  <- chosen" if name == forecast.orders.name else ""
        print(f"  {name:13s} held-out AUC {score['auc']:.4f}  log-likelihood {score['log_likelihood']:10.2f}{mark}")
    print(f"  {forecast.orders}\n  {forecast.spend}")

    published = {
        "BG/NBD": F.fit_orders("bgnbd", now, prior=False),
        "MBG/NBD": F.fit_orders("mbgnbd", now, prior=False),
        "Pareto/NBD": F.fit_orders("pnbd", now, prior=False),
    }
    holdout_forecast = F.Forecast(forecast.orders, forecast.spend, horizon_days=horizon)
    ours, ours_value = F.predict(holdout_forecast, now)
    ours_365, ours_365_value = F.predict(forecast, now)
    scores = {"p_active": P.p_active(P.fit(x, t_x, T), x, t_x, T)}
    scores.update({f"{name} E[X]": F.expected_orders(m, horizon, now) for name, m in published.items()})
    scores["ours (273 d)"] = ours
    scores["ours (predicted_orders, 365 d)"] = ours_365
    boot = auc_boot(scores, bought, args.boot)
    print(f"\nAUC of 'buys again in the holdout' ({args.boot} bootstrap resamples, 95 % intervals):")
    for name, score in scores.items():
        total = (
            f"predicted {score.sum():7.1f} of {d['hold'].sum():.0f}" if "365" not in name and name != "p_active" else ""
        )
        print(f"  {name:31s} {F.auc(score, bought):.4f} {ci(boot[name])}  {total}")
    ours_name = "ours (predicted_orders, 365 d)"
    for base in ("BG/NBD E[X]", "Pareto/NBD E[X]", "MBG/NBD E[X]", "p_active"):
        diff = F.auc(scores[ours_name], bought) - F.auc(scores[base], bought)
        print(f"  ours - {base:16s} {diff:+.4f} {ci(boot[ours_name] - boot[base])} (paired)")

    # Revenue over the holdout.
    spend = d["hold_spent"]
    top = spend >= np.quantile(spend, 0.9)
    repeaters = d["n"] > 1
    gg = S.fit(d["n"][repeaters] - 1, d["repeat_value"][repeaters], prior=False)
    fhl_value = np.where(repeaters, S.expected_order_value(gg, d["n"] - 1, np.nan_to_num(d["repeat_value"])), 0.0)
    fhl_value = np.where(repeaters, fhl_value, gg.mean_order_value)
    values = {"ours (predicted_value)": ours_value}
    values.update({f"{name} x Gamma-Gamma (FHL)": scores[f"{name} E[X]"] * fhl_value for name in published})
    values["run rate (spend per day)"] = d["spent"] / np.maximum(T, 1.0) * horizon
    print(f"\nRevenue in the holdout ({spend.sum():,.2f} dollars; top spenders: the top 10 %, {top.sum()} customers):")
    for name, value in values.items():
        rho = spearmanr(value, spend).statistic
        error = (value.sum() - spend.sum()) / spend.sum()
        print(f"  {name:36s} Spearman {rho:.4f}  top-spender AUC {F.auc(value, top):.4f}  "
              f"total {value.sum():10,.2f} ({error:+.1%})")  # fmt: skip
    print(f"  ours, 365 days: {ours_365_value.sum():,.2f} dollars predicted, {ours_365.sum():.1f} orders")
    small_shops(now, before, window, bought, horizon, args.draws)


def small_shops(now: F.History, before: F.History, window: float, bought: np.ndarray, horizon: float,
                draws: int) -> None:  # fmt: skip
    if draws <= 0:
        return
    rng = np.random.default_rng(1)
    print(f"\nSmall shops ({draws} random draws per size; medians of the AUC of 'buys again in the holdout'):")
    for size in (100, 300, 1000):
        found: dict[str, list[float]] = {"ours": [], "BG/NBD": [], "Pareto/NBD": []}
        chosen: dict[str, int] = {}
        for _ in range(draws):
            pick = np.sort(rng.choice(len(now), size=size, replace=False))
            shop, then, positive = now.take(pick), before.take(pick), bought[pick]
            forecast = F.fit_forecast(shop, then, shop, window)
            chosen[forecast.orders.name] = chosen.get(forecast.orders.name, 0) + 1
            found["ours"].append(F.auc(F.predict(forecast, shop)[0], positive))
            for name, kind in (("BG/NBD", "bgnbd"), ("Pareto/NBD", "pnbd")):
                model = F.fit_orders(kind, shop, prior=False)
                found[name].append(F.auc(F.expected_orders(model, horizon, shop), positive))
        wins = np.mean(np.array(found["ours"]) >= np.array(found["BG/NBD"]))
        medians = "  ".join(f"{name} {np.median(values):.4f}" for name, values in found.items())
        print(f"  {size:5d} customers: {medians}  ours >= BG/NBD in {wins:.0%}; chosen {chosen}")


if __name__ == "__main__":
    main()
