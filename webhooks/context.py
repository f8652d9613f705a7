"""What every endpoint of the web service reaches: the runtime it was handed, and Redis with a short fuse.

``create_app(runtime)`` (``webhooks.app``) keeps the runtime in
``app.extensions["relance"]``; blueprints read it with ``runtime()``.
``WebRuntime`` is what the web service needs of it (``relance.wiring.Runtime``
provides it).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from ipaddress import IPv4Network, IPv6Network
from typing import Any, Protocol, TypeVar

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine

from core.errors import RelanceError
from core.tracker import TrackerLimits

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: Largest body accepted on any endpoint; larger ones get 413.
MAX_BODY_BYTES = 1024 * 1024
#: After Redis failed, requests skip it for this long (seconds) instead of each waiting for it.
REDIS_RETRY_AFTER = 5.0
#: The intake gives up connecting to PostgreSQL after this (seconds) and answers 503 (``webhooks.database``).
DATABASE_CONNECT_TIMEOUT = 5


class WebSettings(Protocol):
    """The install's settings the web service reads."""

    @property
    def base_url(self) -> str: ...
    @property
    def secret_key(self) -> str: ...
    @property
    def old_secret_keys(self) -> Sequence[str]:
        """Former secret keys: links signed with them are still accepted while they are kept."""
        ...

    @property
    def tracker_limits(self) -> TrackerLimits:
        """The tracker's rate limits where a tenant's file does not set them."""
        ...

    @property
    def trusted_proxies(self) -> Sequence[IPv4Network | IPv6Network]:
        """Reverse proxies whose X-Forwarded-For names the client."""
        ...

    @property
    def metrics_token(self) -> str | None:
        """The bearer token ``/metrics`` asks for (None: open)."""
        ...

    @property
    def metrics_tenant_labels(self) -> bool:
        """Whether ``/metrics`` labels series with the tenants' names."""
        ...


class WebRuntime(Protocol):
    """What the web service needs of its process (``relance.wiring.Runtime`` provides it)."""

    @property
    def settings(self) -> WebSettings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...

    def web_redis(self) -> Redis:
        """A Redis client that never holds a request up long (may raise when Redis is unavailable)."""
        ...

    def hand_over(self, redis: Redis, delivery_id: int, count: tuple[str, str] | None = None) -> None:
        """Hand a stored delivery over to the workers in one Redis round trip, counting ``count`` (hash, field).

        Raises RedisError or OSError when Redis is unavailable.
        """
        ...

    def queue_depths(self, redis: Redis) -> dict[str, int]:
        """Jobs waiting in each queue."""
        ...

    def worker_status(self, redis: Redis) -> dict[str, Any]:
        """Workers alive and the periodic jobs' last runs (ages in seconds, from their heartbeats)."""
        ...


def runtime(app: Flask | None = None) -> WebRuntime:
    """The runtime of ``app``, by default the app handling the current request."""
    return (app or current_app).extensions["relance"]


def app_redis(app: Flask | None = None) -> Redis | None:
    """The Redis the app enqueues to, or None while it is unavailable.

    The app keeps the runtime's ``web_redis()`` client (short timeouts with
    RELANCE_REDIS_URL; the embedded Redis without it). After a failure (see
    ``redis_failed``) Redis is skipped for ``REDIS_RETRY_AFTER`` seconds: the
    deliveries are stored meanwhile and the sweeper enqueues them later.
    """
    state = (app or current_app).extensions.setdefault("relance.redis", {"client": None, "down_until": 0.0})
    if state["down_until"] > time.monotonic():
        return None
    if state["client"] is None:
        try:
            state["client"] = runtime(app).web_redis()
        except (RelanceError, RedisError, OSError) as exc:
            redis_failed(exc, app)
            return None
    return state["client"]


def redis_failed(exc: BaseException, app: Flask | None = None) -> None:
    """Note that Redis just failed: skip it for a few seconds."""
    state = (app or current_app).extensions.setdefault("relance.redis", {"client": None, "down_until": 0.0})
    state["down_until"] = time.monotonic() + REDIS_RETRY_AFTER
    log.warning("Redis unavailable (%s); deliveries are stored and will be swept", type(exc).__name__)


def with_any_key(read: Callable[[str], _T], refused: type[Exception] | tuple[type[Exception], ...]) -> _T:
    """``read(key)`` with the install's secret key, then with each former one (RELANCE_OLD_SECRET_KEYS).

    A link signed before the key was rotated keeps working while its key is
    kept among the former ones. When no key reads it, the current key's
    refusal (``refused``) is raised: it says why (changed, cut, expired).
    """
    settings = runtime().settings
    try:
        return read(settings.secret_key)
    except refused as first:
        for key in settings.old_secret_keys:
            try:
                return read(key)
            except refused:
                continue
        raise first
