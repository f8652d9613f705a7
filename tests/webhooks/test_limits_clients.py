"""Rate limits by client: forged Origin and X-Forwarded-For, signups per origin, the install's default limits."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import replace

import pytest

from core.errors import ConfigError
from core.tracker import Rate, TrackerLimits, parse_limits, tracker_config
from relance.settings import Settings
from tests.webhooks.conftest import ORIGIN, make_runtime
from tests.webhooks.test_limits import collect, free_port, limited_shop, page, signup, stored
from webhooks.app import create_app
from webhooks.limits import _Outage, client_address

PROXIES = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"))


def _client(runtime, **settings):
    runtime.settings = replace(runtime.settings, **settings)
    return create_app(runtime, TESTING=True).test_client()


def forwarded(client, item, forwarded_for, peer="127.0.0.1", origin=ORIGIN):
    import json

    from tests.webhooks.conftest import PUBLIC_KEY
    from tests.webhooks.test_limits import ANON

    return client.post(
        "/collect/shop",
        data=json.dumps({"key": PUBLIC_KEY, "anonymous_id": ANON, "events": [item]}),
        headers={"Origin": origin, "Content-Type": "text/plain", "X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": peer},
    )


def test_a_forged_origin_burst_from_one_address_gets_429(engine, client):
    limited_shop(engine, batches_per_address="50/minute")
    # A script posting from anywhere sets the shop's own Origin: it passes the origin check, not the counter.
    answers = [collect(client, page(n), address="203.0.113.66").status_code for n in range(80)]
    assert answers.count(204) == 50 and answers[50:] == [429] * 30
    # An Origin that is not the shop's is refused before anything is counted or stored.
    assert collect(client, page(99), origin="https://evil.example").status_code == 403
    assert stored(engine) == 50


def test_signups_are_limited_per_origin_whatever_the_addresses(engine, client):
    limited_shop(engine, signups_per_origin="3/hour")
    answers = [collect(client, signup(f"v{n}@example.com"), address=f"198.51.100.{n}").status_code for n in range(5)]
    assert answers == [204, 204, 204, 429, 429]
    refused = collect(client, signup("w@example.com"), address="198.51.100.77")
    assert "tracker.limits.signups_per_origin" in refused.get_json()["error"] and ORIGIN in refused.get_json()["error"]
    assert collect(client, page(), address="198.51.100.77").status_code == 204  # browsing is not a signup


def test_x_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(engine, runtime):
    limited_shop(engine, batches_per_address="2/minute")
    client = _client(runtime)  # no trusted proxies: a client writing X-Forwarded-For gains nothing
    answers = [forwarded(client, page(n), f"192.0.2.{n}", peer="203.0.113.5").status_code for n in range(4)]
    assert answers == [204, 204, 429, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_counter(engine, runtime):
    limited_shop(engine, batches_per_address="2/minute")
    client = _client(runtime, trusted_proxies=PROXIES)
    assert [forwarded(client, page(n), f"192.0.2.{n}").status_code for n in range(4)] == [204] * 4
    # The client forges a first hop; the proxy appends the address it really saw: that one is counted.
    answers = [
        forwarded(client, page(n), f"192.0.2.{n}, 198.51.100.9, 10.1.2.3", peer="127.0.0.1").status_code
        for n in range(10, 14)
    ]
    assert answers == [204, 204, 429, 429]


def test_client_address_reads_x_forwarded_for_from_the_right():
    assert client_address("203.0.113.5", "192.0.2.1", PROXIES) == "203.0.113.5"  # the peer is no proxy
    assert client_address("127.0.0.1", "192.0.2.1", ()) == "127.0.0.1"  # no proxy trusted
    assert client_address("127.0.0.1", "192.0.2.1", PROXIES) == "192.0.2.1"
    assert client_address("127.0.0.1", "6.6.6.6, 192.0.2.1, 10.0.0.2", PROXIES) == "192.0.2.1"
    assert client_address("127.0.0.1", "10.0.0.3, 10.0.0.2", PROXIES) == "10.0.0.3"  # every hop a proxy
    assert client_address("127.0.0.1", "junk, 10.0.0.2", PROXIES) == "10.0.0.2"  # stops at what it can read
    assert client_address("127.0.0.1", "", PROXIES) == "127.0.0.1"
    assert client_address("::1", "2001:db8::7", (ipaddress.ip_network("::1/128"),)) == "2001:db8::7"


def test_the_install_sets_default_limits_and_a_tenant_overrides_them(engine, runtime):
    env = {
        "RELANCE_SECRET_KEY": "k" * 32,
        "RELANCE_TRACKER_LIMITS": "batches_per_address=2/minute, signups_per_tenant=9/day",
    }
    defaults = Settings.from_env(env).tracker_limits
    assert defaults == TrackerLimits(batches_per_address=Rate(2, 60), signups_per_tenant=Rate(9, 86400))
    own = tracker_config({"public_key": "pk_x", "limits": {"batches_per_address": "5/second"}}, defaults)
    assert own.limits.batches_per_address == Rate(5, 1) and own.limits.signups_per_tenant == Rate(9, 86400)
    limited_shop(engine)  # no limits of its own
    client = _client(runtime, tracker_limits=defaults)
    assert [collect(client, page(n)).status_code for n in range(3)] == [204, 204, 429]


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("batches=2/minute", "'batches=2/minute' is not name=rate"),
        ("batches_per_address:2/minute", "is not name=rate"),
        ("batches_per_address=2/week", "RELANCE_TRACKER_LIMITS: batches_per_address: '2/week' is not a rate"),
    ],
)
def test_bad_install_limits_are_one_line(value, fragment):
    with pytest.raises(ConfigError, match=fragment) as refused:
        parse_limits(value, "RELANCE_TRACKER_LIMITS")
    assert "\n" not in str(refused.value)


def test_bad_trusted_proxies_are_one_line():
    with pytest.raises(ConfigError, match=r"RELANCE_TRUSTED_PROXIES: 'proxy.local' is not an IP address"):
        Settings.from_env({"RELANCE_SECRET_KEY": "k" * 32, "RELANCE_TRUSTED_PROXIES": "127.0.0.1, proxy.local"})
    settings = Settings.from_env({"RELANCE_SECRET_KEY": "k" * 32, "RELANCE_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8"})
    assert settings.trusted_proxies == (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))


def test_redis_down_is_logged_once_and_browsing_is_accepted(engine, tmp_path, clock, caplog, monkeypatch):
    monkeypatch.setattr(_Outage, "logged", False)  # a new outage for this process
    limited_shop(engine, batches_per_address="1/hour")
    down = make_runtime(engine, tmp_path, clock, f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(down, TESTING=True).test_client()
    with caplog.at_level(logging.WARNING, logger="webhooks.limits"):
        answers = [collect(client, page(n)).status_code for n in range(5)]
    assert answers == [204] * 5
    outages = [record for record in caplog.records if "rate limits cannot be counted" in record.getMessage()]
    assert len(outages) == 1
