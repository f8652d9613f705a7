"""Benchmark: what checking an event against the store's limits costs, against decoding its JSON alone.

    python bench/events_parse.py [--repeat 3] [--rounds 5]

Subject: ``json.loads`` then ``core.events.parse_event`` of each line of the
demo's sample shop (about 2,500 Event API events: views, signups, orders, carts,
catalogue), which is what ``relance import``, the Event API and every mapping
do per event. Baseline: ``json.loads`` of the same lines (the bare decoding, in
the same run). Baseline and subject alternate (ABAB) ``--repeat`` times; each
measure is the best of ``--rounds`` passes over all the events, each pass with
the parser's phone cache emptied first. Prints µs per event of each and min /
median / max of the ratio subject / baseline.

To see what a change to the parser costs, run the same file from another
checkout: ``cd OTHER && PYTHONPATH=. python /path/to/bench/events_parse.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import date

from core import events, normalize
from core.events import parse_event
from relance.demo.sampleshop import generate


def _best(work: Callable[[], None], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lines = [json.dumps(raw) for raw in generate(date(2026, 11, 24))]
    # the parser's and normalisers' bounded caches (phone numbers, texts, times, amounts), whatever the checkout has
    caches = [
        value for module in (normalize, events) for value in vars(module).values() if hasattr(value, "cache_clear")
    ]

    def baseline() -> None:
        for line in lines:
            json.loads(line)

    def subject() -> None:
        for cache in caches:  # each pass starts cold: only the repeats within the events are remembered
            cache.cache_clear()
        for line in lines:
            parse_event(json.loads(line), default_source="import")

    subject()  # import and warm what the parser uses (zoneinfo, babel, phonenumbers)
    ratios, base_times, subject_times = [], [], []
    for _ in range(args.repeat):
        base = _best(baseline, args.rounds)
        sub = _best(subject, args.rounds)
        base_times.append(base / len(lines) * 1e6)
        subject_times.append(sub / len(lines) * 1e6)
        ratios.append(sub / base)
    print(f"{len(lines)} events; ABAB x{args.repeat}, each the best of {args.rounds} passes")
    print(f"json.loads alone:          median {statistics.median(base_times):7.2f} µs/event")
    print(f"json.loads + parse_event:  median {statistics.median(subject_times):7.2f} µs/event")
    print(f"ratio min / median / max:  {min(ratios):.2f} / {statistics.median(ratios):.2f} / {max(ratios):.2f}")


if __name__ == "__main__":
    main()
