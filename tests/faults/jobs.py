"""Jobs the fault tests enqueue: real work, slowed down so that a fault can strike while they run."""

from __future__ import annotations

import time
from typing import Any

from jobs.ingest import run_ingest_events


def slow_ingest(tenant_id: int, raw_events: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Wait ``seconds``, then ingest ``raw_events`` (the wait is when the test kills something)."""
    time.sleep(seconds)
    return run_ingest_events(tenant_id, raw_events)
