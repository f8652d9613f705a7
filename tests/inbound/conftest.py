"""The web service's fixtures (tests/webhooks/conftest.py): the app on the test database and Redis, a worker."""

from tests.webhooks.conftest import app, client, clock, runtime, shop, work  # noqa: F401
