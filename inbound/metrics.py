"""Prometheus metrics of received deliveries, kept in Redis so that every process agrees.

The web service counts requests (``count_request``) and serves ``/metrics``
(``render``); the processing records each processed delivery
(``record_processing``).

Counters are Redis hashes that any gunicorn worker or RQ worker, on any
machine, increments; ``/metrics`` reads them back. They are best effort: when
Redis is down the count is skipped (the request still succeeds) and a Redis
flush resets them, which Prometheus treats as a counter reset. The backlog
(deliveries by state) comes from the database, which is the truth.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REQUESTS_KEY = "relance:metrics:requests"
PROCESSED_KEY = "relance:metrics:processed"
LATENCY_KEY = "relance:metrics:latency"
#: Upper bounds (seconds) of the processing latency histogram: receipt to processed.
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, math.inf)
_SEP = "\t"

#: Request outcomes counted by ``relance_webhook_requests_total``.
OUTCOMES = (
    "accepted",  # stored, enqueued (or left for the sweeper)
    "ping",  # WooCommerce's creation ping
    "ignored",  # acknowledged, nothing to do (unsupported topic, Do Not Track)
    "unauthorized",  # bad or missing signature / key
    "bad_request",  # invalid JSON or shape
    "forbidden",  # tracker origin not allowed
    "too_large",
    "rate_limited",  # tracker limits: 429
    "unknown_tenant",
    "unavailable",  # database down: 503
)


def count_request(redis: Redis | Pipeline | None, tenant: str, source: str, outcome: str) -> None:
    """Count one request's outcome (skipped silently when Redis is unavailable); a pipeline only queues it."""
    _incr(redis, REQUESTS_KEY, (tenant, source, outcome))


def request_counter(tenant: str, source: str, outcome: str) -> tuple[str, str]:
    """The (hash, field) ``count_request`` increments, for a caller that adds it to a round trip of its own."""
    return REQUESTS_KEY, _SEP.join((tenant, source, outcome))


def record_processing(redis: Redis | None, tenant: str, source: str, outcome: str, seconds: float) -> None:
    """Count one processed delivery and its latency from receipt."""
    if redis is None:
        return
    bucket = next(bound for bound in BUCKETS if seconds <= bound)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.hincrby(PROCESSED_KEY, _SEP.join((tenant, source, outcome)), 1)
        pipe.hincrby(LATENCY_KEY, _SEP.join((source, _le(bucket))), 1)
        pipe.hincrbyfloat(LATENCY_KEY, _SEP.join((source, "sum")), max(seconds, 0.0))
        pipe.execute()
    except (RedisError, OSError) as exc:
        log.debug("metrics not recorded: %s", type(exc).__name__)


def _incr(redis: Redis | Pipeline | None, key: str, labels: tuple[str, ...]) -> None:
    if redis is None:
        return
    try:
        redis.hincrby(key, _SEP.join(labels), 1)
    except (RedisError, OSError) as exc:
        log.debug("metrics not recorded: %s", type(exc).__name__)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in labels.items()) + "}"


def _hash(redis: Redis | None, key: str) -> dict[str, float]:
    if redis is None:
        return {}
    raw = redis.hgetall(key)
    return {k.decode() if isinstance(k, bytes) else k: float(v) for k, v in raw.items()}


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def render(
    redis: Redis | None,
    backlog: Mapping[tuple[str, str, str], int],
    queue_depths: Mapping[str, int],
    up: Mapping[str, bool],
    workers: Mapping[str, Any] | None = None,
    tenant_labels: bool = False,
) -> str:
    """The Prometheus text exposition of every metric.

    ``backlog`` maps (tenant, source, state) to a number of stored deliveries;
    ``queue_depths`` maps an RQ queue name to its length; ``up`` says whether
    the database and Redis answer; ``workers`` is ``jobs.duties.status`` (the
    workers' and periodic jobs' heartbeats), when Redis answered. Without ``tenant_labels`` the series are
    summed over tenants and carry no ``tenant`` label: the tenants' names
    (an agency's client list) are not published.
    """
    lines: list[str] = []

    def by_tenant(samples: Iterable[tuple[tuple[str, ...], float]]) -> list[tuple[tuple[str, ...], float]]:
        """The samples as they are with tenant labels, else summed over their first label (the tenant)."""
        if tenant_labels:
            return list(samples)
        summed: dict[tuple[str, ...], float] = {}
        for labels, value in samples:
            summed[labels[1:]] = summed.get(labels[1:], 0) + value
        return sorted(summed.items())

    def named(names: tuple[str, ...], labels: tuple[str, ...]) -> dict[str, str]:
        return dict(zip(names if tenant_labels else names[1:], labels, strict=True))

    def family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, Any]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for suffix_labels, value in samples:
            lines.append(f"{suffix_labels} {_number(value)}")

    family(
        "relance_up",
        "gauge",
        "Whether the component answers (1) or not (0).",
        ((f"relance_up{_labels(component=name)}", 1 if ok else 0) for name, ok in sorted(up.items())),
    )
    counters = _safe(lambda: _hash(redis, REQUESTS_KEY))
    family(
        "relance_webhook_requests_total",
        "counter",
        "Requests to the webhook, Event API and tracker endpoints, by source and outcome (and tenant, when shown).",
        (
            (f"relance_webhook_requests_total{_labels(**named(('tenant', 'source', 'outcome'), labels))}", v)
            for labels, v in by_tenant(_split(counters, 3))
        ),
    )
    processed = _safe(lambda: _hash(redis, PROCESSED_KEY))
    family(
        "relance_deliveries_processed_total",
        "counter",
        "Stored deliveries processed by the workers, by source and outcome (processed, ignored, failed).",
        (
            (f"relance_deliveries_processed_total{_labels(**named(('tenant', 'source', 'outcome'), labels))}", v)
            for labels, v in by_tenant(_split(processed, 3))
        ),
    )
    family(
        "relance_deliveries",
        "gauge",
        "Deliveries kept in the database, by source and state (pending, processed, ignored, failed).",
        (
            (f"relance_deliveries{_labels(**named(('tenant', 'source', 'state'), labels))}", n)
            for labels, n in by_tenant(sorted((key, float(n)) for key, n in backlog.items()))
        ),
    )
    latency = _safe(lambda: _hash(redis, LATENCY_KEY))
    lines.append("# HELP relance_delivery_processing_seconds Time from receipt to the end of processing.")
    lines.append("# TYPE relance_delivery_processing_seconds histogram")
    for source in sorted({key.split(_SEP)[0] for key in latency}):
        cumulative = 0.0
        for bound in BUCKETS:
            cumulative += latency.get(_SEP.join((source, _le(bound))), 0.0)
            name = f"relance_delivery_processing_seconds_bucket{_labels(source=source, le=_le(bound))}"
            lines.append(f"{name} {_number(cumulative)}")
        lines.append(
            f"relance_delivery_processing_seconds_sum{_labels(source=source)} "
            f"{_number(latency.get(_SEP.join((source, 'sum')), 0.0))}"
        )
        lines.append(f"relance_delivery_processing_seconds_count{_labels(source=source)} {_number(cumulative)}")
    family(
        "relance_queue_depth",
        "gauge",
        "Jobs waiting in each RQ queue.",
        ((f"relance_queue_depth{_labels(queue=name)}", n) for name, n in sorted(queue_depths.items())),
    )
    if workers is not None:
        _worker_families(family, workers)
    return "\n".join(lines) + "\n"


def _worker_families(family: Any, workers: Mapping[str, Any]) -> None:
    family(
        "relance_workers_alive",
        "gauge",
        "Workers whose heartbeat is less than a minute old.",
        [("relance_workers_alive", workers["workers"])],
    )
    if workers.get("last_worker_heartbeat_age") is not None:
        family(
            "relance_worker_heartbeat_age_seconds",
            "gauge",
            "Seconds since the most recent heartbeat of any worker.",
            [("relance_worker_heartbeat_age_seconds", round(workers["last_worker_heartbeat_age"], 3))],
        )
    family(
        "relance_periodic_last_run_age_seconds",
        "gauge",
        "Seconds since each periodic job was last enqueued (by any worker).",
        (
            (f"relance_periodic_last_run_age_seconds{_labels(job=name)}", round(age, 3))
            for name, age in sorted(workers.get("periodic", {}).items())
        ),
    )


def _safe(read: Any) -> dict[str, float]:
    try:
        return read()
    except (RedisError, OSError):
        return {}


def _split(values: Mapping[str, float], parts: int) -> list[tuple[tuple[str, ...], float]]:
    out = []
    for key, value in sorted(values.items()):
        labels = tuple(key.split(_SEP))
        if len(labels) == parts:
            out.append((labels, value))
    return out
