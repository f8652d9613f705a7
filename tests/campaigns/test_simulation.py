"""``relance simulate`` and the demo run campaigns and segment-triggered flows with the simulated clock."""

from __future__ import annotations

from core.campaigns.simulation import CAMPAIGNS
from core.flows.simulation import simulate
from tests.campaigns.helpers import SEGMENTS, at, campaign_tenant
from tests.flows.helpers import identify, item, order, person, product


def test_simulate_sends_a_campaign_at_its_time(engine):
    spec = {"segment": "lyon", "subject": "Hello", "at": at(days=1).isoformat(), "per_hour": 1}
    tenant = campaign_tenant(engine, {"promo": spec})
    events = [
        identify(at(), person("ana@example.fr", city="Lyon")),
        identify(at(minutes=1), person("bob@example.fr", city="Lyon")),
        identify(at(minutes=2), person("zoe@example.fr", city="Lyon", consent=False)),
        identify(at(minutes=3), person("paul@example.fr", city="Paris")),
    ]
    result = simulate(engine, tenant, events, at(days=3), agendas=(CAMPAIGNS,))
    sent = [(m.flow, m.to, m.time) for m in result.messages if m.flow.startswith("campaign:")]
    assert sent == [
        ("campaign:promo", "ana@example.fr", at(days=1)),
        ("campaign:promo", "bob@example.fr", at(days=1, hours=1)),  # one an hour
    ]
    assert result.outcomes["dropped:consent"] == 1


def test_simulate_starts_flows_on_segments_entered_as_time_passes(engine):
    """at_risk is entered by time alone (here 20 days after a one-time purchase): the simulation refreshes
    the segments as the hourly job does, so win_back starts, as in production."""
    segments = {**SEGMENTS, "thresholds": {"at_risk_one_time_days": 20}}
    tenant = campaign_tenant(engine, flows={"win_back": {"enabled": True}}, segments=segments)
    buyer = person("ana@example.fr")
    events = [
        product(at(minutes=-2), "101"),
        product(at(minutes=-1), "102"),
        order(at(), buyer, [item("101")], order_id="o1", status="completed"),
    ]
    result = simulate(engine, tenant, events, at(days=23))
    win_back = [m for m in result.messages if m.flow == "win_back"]
    assert win_back, result.outcomes
    assert win_back[0].to == "ana@example.fr" and at(days=20) < win_back[0].time < at(days=23)
