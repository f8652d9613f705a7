"""What the console's pages reach: the runtime the web app was handed (``app.extensions["relance"]``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from flask import current_app
from sqlalchemy import Engine


class ConsoleSettings(Protocol):
    @property
    def base_url(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def secret_key(self) -> str: ...


class ConsoleRuntime(Protocol):
    """What the console needs of its process (``relance.wiring.Runtime`` provides it)."""

    @property
    def settings(self) -> ConsoleSettings: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...

    def web_redis(self) -> Any: ...

    def queue_depths(self, redis: Any) -> dict[str, int]: ...

    def worker_status(self, redis: Any) -> dict[str, Any]: ...


def runtime() -> ConsoleRuntime:
    """The runtime of the app handling the current request."""
    return current_app.extensions["relance"]


def queue_depths() -> tuple[dict[str, int], dict[str, Any]] | None:
    """Jobs waiting in each queue and the workers' heartbeats, or None when Redis does not answer."""
    try:
        rt = runtime()
        redis = rt.web_redis()
        return rt.queue_depths(redis), rt.worker_status(redis)
    except Exception:  # noqa: BLE001 - Redis down only hides the figures; the page still renders
        return None
