"""Build the runtime of an install: database engine, Redis, clock, and how the layers reach each other.

The ``Runtime`` is handed to the web app (``webhooks.app.create_app``), to
the workers (``relance.worker.RelanceWorker``) and to the commands. It is
what lets the web service hand a stored delivery over to the workers
(``hand_over``) and read the queues' depth (``queue_depths``) without
importing ``jobs``: ``webhooks`` and ``jobs`` each type it by a small
protocol of what they need (``webhooks.context.WebRuntime``,
``jobs.context.JobRuntime``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from sqlalchemy import Engine

from core.errors import RelanceError
from core.secrets import Keyring
from core.store.db import make_engine, migrate
from core.store.tenants import use_keyring
from jobs import duties, queues
from jobs.inbound import HandOver
from relance import embedded_redis
from relance.settings import Settings, private_dir

log = logging.getLogger(__name__)

#: The web service's Redis must answer within this (seconds), so that a dead Redis never holds a request up.
WEB_REDIS_TIMEOUT = 1.0


class RedisUnavailableError(RelanceError):
    """Redis cannot be reached or the embedded one cannot start."""


def system_clock() -> datetime:
    """The real time, aware and in UTC."""
    return datetime.now(UTC)


@dataclass
class Runtime:
    """Everything a command, a job or the web app needs, built once per process."""

    settings: Settings
    engine: Engine
    clock: Callable[[], datetime] = system_clock
    _redis: Redis | None = field(default=None, repr=False)
    _hand_overs: dict[int, HandOver] = field(default_factory=dict, repr=False)
    _hand_over_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = connect_redis(self.settings)
        return self._redis

    def close(self) -> None:
        """Let go of Redis: the embedded one stops when its last user has closed (or exited)."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None
            if not self.settings.redis_url:
                embedded_redis.release(self.settings.data_dir)

    def web_redis(self) -> Redis:
        """A Redis client for the web service: short timeouts with RELANCE_REDIS_URL, else the embedded Redis."""
        if self.settings.redis_url:
            return Redis.from_url(
                self.settings.redis_url, socket_connect_timeout=WEB_REDIS_TIMEOUT, socket_timeout=WEB_REDIS_TIMEOUT
            )
        return self.redis

    def hand_over(self, redis: Redis, delivery_id: int, count: tuple[str, str] | None = None) -> None:
        """Hand a stored delivery over to the workers: its id pushed for a drain job (``jobs.inbound.HandOver``).

        One Redis round trip, incrementing the counter ``count`` names (a hash
        and a field) as well; a second one only to enqueue a drain job when
        none is queued. Raises RedisError or OSError when Redis is unavailable
        (the sweeper queues it later).
        """
        with self._hand_over_lock:
            known = self._hand_overs.get(id(redis))
            if known is None or known.redis is not redis:
                known = self._hand_overs[id(redis)] = HandOver(redis)
        known(delivery_id, count)

    def queue_depths(self, redis: Redis) -> dict[str, int]:
        """Jobs waiting in each queue, read through ``redis``."""
        return {name: queues.queue(redis, name).count for name in queues.ALL}

    def worker_status(self, redis: Redis) -> dict[str, Any]:
        """Workers alive and the periodic jobs' last runs, from their heartbeats (``jobs.duties.status``)."""
        return duties.status(redis, self.clock().timestamp())


def build_runtime(settings: Settings, migrate_schema: bool = True) -> Runtime:
    """Create the engine (and bring the schema up to date unless told not to).

    The engine carries the keyring of the tenants' secrets (``core.secrets``),
    derived from RELANCE_SECRET_KEY and RELANCE_OLD_SECRET_KEYS.
    """
    if settings.embedded_redis or settings.database_url.startswith(f"sqlite:///{settings.data_dir}"):
        private_dir(settings.data_dir)  # 0700: the database, the embedded Redis, the secret key
    engine = make_engine(settings.database_url)
    use_keyring(engine, keyring(settings))
    if migrate_schema:
        migrate(engine)
    return Runtime(settings=settings, engine=engine)


def keyring(settings: Settings) -> Keyring:
    """The keyring that encrypts the tenants' secrets: the secret key, then the former ones."""
    return Keyring(settings.secret_key, settings.old_secret_keys)


def connect_redis(settings: Settings) -> Redis:
    """Connect to RELANCE_REDIS_URL, or start the embedded Redis in the data dir."""
    if settings.redis_url:
        client = Redis.from_url(settings.redis_url)
        try:
            client.ping()
        except Exception as exc:
            raise RedisUnavailableError(
                f"cannot reach Redis at {_safe_redis_url(settings.redis_url)} ({exc}); "
                "check RELANCE_REDIS_URL and that redis-server is running"
            ) from exc
        return client
    return start_embedded_redis(settings)


def start_embedded_redis(settings: Settings) -> Redis:
    """Start (or join) the embedded redis-server of this data dir; it stops when its last user is gone.

    See ``relance.embedded_redis``; ``Runtime.close`` (or the process's end) lets it go.
    """
    try:
        private_dir(settings.data_dir)
        client = embedded_redis.acquire(settings.data_dir)
        client.ping()
    except Exception as exc:
        raise RedisUnavailableError(
            f"the embedded Redis could not start ({exc}); install and start redis-server, "
            "then set RELANCE_REDIS_URL=redis://127.0.0.1:6379/0"
        ) from exc
    return client


def _safe_redis_url(url: str) -> str:
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
