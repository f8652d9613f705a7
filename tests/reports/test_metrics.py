"""``/metrics``: messages by flow, channel and status; tenant names only when switched on."""

from __future__ import annotations

import re

from core.reports.metrics import render_messages
from tests.conftest import make_tenant
from tests.messages.helpers import runtime
from tests.reports.helpers import contact, message
from webhooks.app import create_app


def sample(text: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^relance_messages\{{{re.escape(wanted)}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def test_metrics_count_messages_by_flow_channel_and_status_without_tenant_names(engine, tmp_path):
    for name in ("alpha", "beta"):
        shop = make_tenant(engine, name)
        who = contact(engine, shop, f"{name}@example.com")
        message(engine, shop, who, "win_back", 1)
        message(engine, shop, who, "win_back", 2, status="bounced")
        message(engine, shop, who, "welcome", 1, channel="sms", status="holdout")
        message(engine, shop, who, "promo", 1, campaign="spring")
    text = create_app(runtime(engine, tmp_path), TESTING=True).test_client().get("/metrics").get_data(as_text=True)
    assert "# TYPE relance_messages gauge" in text
    assert sample(text, flow="win_back", channel="email", status="sent") == 2
    assert sample(text, flow="win_back", channel="email", status="bounced") == 2
    assert sample(text, flow="welcome", channel="sms", status="holdout") == 2
    assert sample(text, flow="campaign:spring", channel="email", status="sent") == 2
    assert "alpha" not in text and "beta" not in text


def test_tenant_labels_when_switched_on():
    counts = {("alpha", "win_back", "email", "sent"): 2, ("beta", "win_back", "email", "sent"): 3}
    on = render_messages(counts, tenant_labels=True)
    assert sample(on, tenant="alpha", flow="win_back", channel="email", status="sent") == 2
    assert sample(on, tenant="beta", flow="win_back", channel="email", status="sent") == 3
    off = render_messages(counts, tenant_labels=False)
    assert sample(off, flow="win_back", channel="email", status="sent") == 5 and "alpha" not in off
    assert 'flow="a\\"b"' in render_messages({("t", 'a"b', "email", "sent"): 1}, False)
