"""Benchmark: the model fit a first sync ends with (``core.operations.finish_backfill``), on CDNOW.

    .venv/bin/python bench/segments_fit.py              # ~1 minute on a busy 2-core machine
    .venv/bin/python bench/segments_fit.py --repeat 5

What ``core.segments.store.metrics.fit_models`` fits once the customers are read:
the purchase model (``core.predictions.fit``) and the forecast
(``core.predictions_forecast.fit_forecast``: six candidates fitted on the
history before the held-out window, the chosen one refitted, the spend model),
on the CDNOW sample's 2,357 customers (a small shop, where this fit weighed
17-30 % of a first sync).

Alternated (ABAB, ``--repeat`` pairs), in one process:

- ``default``: the fits as SciPy runs them by default (OpenBLAS with a thread per
  core), that is the undecorated functions (``__wrapped__``);
- ``shipped``: the fits as the refresh runs them, BLAS on one thread
  (``core.predictions.one_blas_thread``).

Printed: seconds of each, min / median / max of the ratio shipped / default,
and whether both gave the same parameters. Figures on the shared 2-core
machine (other load present): 0.32 / 0.32 / 0.39 (default median 3.48 s,
shipped median 1.16 s per fit of the shop), the same parameters. (The likelihoods'
special functions evaluated once per distinct purchase count, bitwise the same
values, made each evaluation of the (M)BG/NBD likelihood about 3x cheaper too.)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import predictions as P  # noqa: E402
from core import predictions_forecast as F  # noqa: E402
from tests.segments import cdnow  # noqa: E402


def fit_all(shipped: bool) -> tuple[float, tuple[object, object]]:
    """Seconds of the purchase and forecast fits of the CDNOW calibration period (as
    ``tests.segments.cdnow.calibration_forecast`` sets them up), and what they gave."""
    window = F.window_days((cdnow.END - cdnow.START).days)
    now = cdnow.history(cdnow.load(cdnow.END, cdnow.END))
    before = cdnow.history(cdnow.load(cdnow.END - timedelta(days=window), cdnow.END))
    fit_purchase = P.fit if shipped else P.fit.__wrapped__  # type: ignore[attr-defined]
    fit_forecast = F.fit_forecast if shipped else F.fit_forecast.__wrapped__  # type: ignore[attr-defined]
    started = time.perf_counter()
    purchase = fit_purchase(now.x, now.t_x, now.T)
    forecast = fit_forecast(now, before, now, window)
    return time.perf_counter() - started, (purchase, forecast)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    defaults, shipped, ratios, same = [], [], [], True
    for _ in range(args.repeat):
        a, result_a = fit_all(shipped=False)
        b, result_b = fit_all(shipped=True)
        defaults.append(a)
        shipped.append(b)
        ratios.append(b / a)
        same = same and result_a == result_b
        print(f"default {a:.2f} s, shipped {b:.2f} s", flush=True)
    print(
        f"RESULT shipped / default, {args.repeat} alternated pairs, min / median / max: "
        f"{min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f} "
        f"(default median {statistics.median(defaults):.2f} s, shipped median {statistics.median(shipped):.2f} s); "
        f"same parameters: {same}"
    )


if __name__ == "__main__":
    main()
