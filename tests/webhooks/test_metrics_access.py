"""/metrics: a bearer token when the install sets one (401 otherwise), and no tenant names unless asked for."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.errors import ConfigError
from relance.settings import Settings
from tests.conftest import make_tenant
from tests.webhooks.test_health import post, sample
from webhooks.app import create_app

TOKEN = "metrics-token-0123456789abcdef"


def _client(runtime, **settings):
    runtime.settings = replace(runtime.settings, **settings)
    return create_app(runtime, TESTING=True).test_client()


def test_with_a_token_metrics_need_it(engine, shop, runtime):
    client = _client(runtime, metrics_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "relance_up" not in refused.get_data(as_text=True)
    allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and "relance_up" in allowed.get_data(as_text=True)
    assert client.get("/healthz").status_code == 200  # the health check stays open for load balancers


def test_without_a_token_metrics_are_open(engine, shop, client):
    assert client.get("/metrics").status_code == 200


def test_tenant_names_are_not_labels_by_default(engine, shop, runtime):
    make_tenant(engine, "client-secret-list")
    client = _client(runtime)
    post(client)
    post(client, id=728, number="728")
    text = client.get("/metrics").get_data(as_text=True)
    assert "tenant=" not in text and "client-secret-list" not in text and 'shop"' not in text
    assert sample(text, "relance_webhook_requests_total", source="woocommerce", outcome="accepted") == 2
    assert sample(text, "relance_deliveries", source="woocommerce", state="pending") == 2
    labelled = _client(runtime, metrics_tenant_labels=True).get("/metrics").get_data(as_text=True)
    assert sample(labelled, "relance_deliveries", tenant="shop", source="woocommerce", state="pending") == 2


def test_metrics_settings_are_read_from_the_environment():
    base = {"RELANCE_SECRET_KEY": "k" * 32}
    settings = Settings.from_env({**base, "RELANCE_METRICS_TOKEN": TOKEN, "RELANCE_METRICS_TENANT_LABELS": "on"})
    assert settings.metrics_token == TOKEN and settings.metrics_tenant_labels
    plain = Settings.from_env(base)
    assert plain.metrics_token is None and not plain.metrics_tenant_labels
    with pytest.raises(ConfigError, match="RELANCE_METRICS_TOKEN must be at least 16 characters"):
        Settings.from_env({**base, "RELANCE_METRICS_TOKEN": "short"})
    with pytest.raises(ConfigError, match="RELANCE_METRICS_TENANT_LABELS must be true or false"):
        Settings.from_env({**base, "RELANCE_METRICS_TENANT_LABELS": "maybe"})


def test_a_web_service_with_the_wrong_key_answers_503_and_logs_one_line(engine, shop, runtime, caplog):
    from core.secrets import Keyring
    from core.store.db import make_engine
    from core.store.tenants import use_keyring

    wrong = make_engine(str(engine.url.render_as_string(hide_password=False)))
    use_keyring(wrong, Keyring("not-the-key-of-these-secrets"))
    runtime.engine = wrong
    try:
        client = _client(runtime)
        answer = post(client)
    finally:
        wrong.dispose()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"
    assert "RELANCE_SECRET_KEY" not in answer.get_data(as_text=True)  # the reason goes to the log, not the caller
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "RELANCE_OLD_SECRET_KEYS" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is None
