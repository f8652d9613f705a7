"""GET /healthz and GET /metrics (Prometheus text format)."""

from __future__ import annotations

import re
from dataclasses import replace

from tests.webhooks.conftest import SECRET
from tests.webhooks.payloads import delivery_headers, order, wp_json

URL = "/hooks/shop/woocommerce"


def post(client, secret=SECRET, **changes):
    body = wp_json(order(**changes))
    return client.post(URL, data=body, headers=delivery_headers("order.updated", body, secret))


def sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{re.escape(name)}\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_healthz_reports_database_and_redis(engine, shop, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ok",
        "database": "ok",
        "redis": "ok",
        "workers": {"alive": 0, "last_heartbeat_seconds_ago": None, "last_periodic_run_seconds_ago": None},
    }


def test_metrics_count_deliveries_by_tenant_source_and_outcome(engine, shop, runtime, client, work, clock):
    runtime.settings = replace(runtime.settings, metrics_tenant_labels=True)  # RELANCE_METRICS_TENANT_LABELS=on
    post(client)
    post(client, id=728, number="728")
    post(client, secret="wrong")
    client.post("/hooks/ghost/woocommerce", data=b"{}")
    client.post(URL, data=b"webhook_id=4")

    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE relance_webhook_requests_total counter" in text
    assert sample(text, "relance_webhook_requests_total", tenant="shop", source="woocommerce", outcome="accepted") == 2
    assert (
        sample(text, "relance_webhook_requests_total", tenant="shop", source="woocommerce", outcome="unauthorized") == 1
    )
    assert sample(text, "relance_webhook_requests_total", tenant="shop", source="woocommerce", outcome="ping") == 1
    # An unknown tenant's name is not a label (anyone could invent names).
    assert (
        sample(text, "relance_webhook_requests_total", tenant="", source="woocommerce", outcome="unknown_tenant") == 1
    )
    assert "ghost" not in text
    assert sample(text, "relance_deliveries", tenant="shop", source="woocommerce", state="pending") == 2
    assert sample(text, "relance_queue_depth", queue="relance") == 1  # one drain job for both deliveries

    clock.advance(seconds=3)
    work()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "relance_deliveries", tenant="shop", source="woocommerce", state="processed") == 2
    assert (
        sample(text, "relance_deliveries_processed_total", tenant="shop", source="woocommerce", outcome="processed")
        == 2
    )
    assert sample(text, "relance_queue_depth", queue="relance") == 0
    assert sample(text, "relance_delivery_processing_seconds_bucket", source="woocommerce", le="2.5") == 0
    assert sample(text, "relance_delivery_processing_seconds_bucket", source="woocommerce", le="5.0") == 2
    assert sample(text, "relance_delivery_processing_seconds_count", source="woocommerce") == 2
    assert sample(text, "relance_delivery_processing_seconds_sum", source="woocommerce") == 6
    assert sample(text, "relance_up", component="redis") == 1
