"""Fixtures of the web service tests: a tenant with secrets, the app on the test database and Redis, a worker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from core.store.tenants import Tenant
from jobs import context, queues
from relance.settings import Settings
from relance.wiring import Runtime
from relance.worker import RelanceWorker
from tests.conftest import NOW, REDIS_URL, make_tenant
from webhooks.app import create_app

SECRET = "wc-s3cret&amp;with-entities"  # WooCommerce decodes &amp; before signing
PUBLIC_KEY = "pk_test_0123456789abcdef"
ORIGIN = "https://shop.example.com"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def shop(engine: Engine) -> Tenant:
    """A WooCommerce tenant with a webhook secret and the tracker set up."""
    return make_tenant(
        engine,
        "shop",
        webhook_secret=SECRET,
        currency="EUR",
        tracker={"public_key": PUBLIC_KEY, "allowed_origins": [ORIGIN]},
    )


def make_runtime(engine: Engine, tmp_path: Path, clock: Clock, redis_url: str | None) -> Runtime:
    settings = Settings(
        database_url=str(engine.url),
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-0123456789",
        base_url="http://relance.test",
    )
    return Runtime(settings=settings, engine=engine, clock=clock)


@pytest.fixture
def runtime(engine: Engine, tmp_path: Path, clock: Clock, redis: Any, redis_db: int) -> Iterator[Runtime]:
    """The runtime of the app and the jobs: the test database, the real Redis (own db number)."""
    rt = make_runtime(engine, tmp_path, clock, f"{REDIS_URL}/{redis_db}")
    rt._redis = redis
    context.install(rt)
    yield rt
    context.install(None)  # type: ignore[arg-type]


@pytest.fixture
def app(runtime: Runtime) -> Any:
    return create_app(runtime, TESTING=True)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def work(redis: Any, runtime: Runtime) -> Callable[[], int]:
    """Run Relance's RQ worker until the queues are empty; return how many jobs were waiting."""

    def run() -> int:
        waiting = [queues.queue(redis, name) for name in queues.ALL]
        before = sum(queue.count for queue in waiting)
        RelanceWorker(waiting, connection=redis, runtime=runtime).work(burst=True, logging_level="WARNING")
        return before

    return run
