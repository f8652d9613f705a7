"""Hypothesis profiles of the property tests.

``ci`` (the default) runs a fixed set of examples, the same on every run, so a
suite that passed passes again; ``deep`` explores new examples each run, many
more of them: ``HYPOTHESIS_PROFILE=deep .venv/bin/pytest tests/property``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_SHARED = {
    # The machine is shared and PostgreSQL round trips vary: time is not what these tests check.
    "deadline": None,
    # The round-trip tests share one migrated database per test, emptied once: examples add to it.
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=150, derandomize=True, database=None, **_SHARED)
settings.register_profile("deep", max_examples=3000, **_SHARED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
