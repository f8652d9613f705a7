"""Campaigns sent with a simulated clock: audience, local time, throttle, caps, quiet hours, cancel, crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from core.campaigns import campaign_progress, cancel_campaign, create_campaign, dry_run
from core.campaigns.sending import run_due
from core.campaigns.store.schema import campaign_recipients
from tests.campaigns.helpers import (
    add_contact,
    at,
    campaign_tenant,
    clock,
    outbox,
    recipients,
    refresh,
    state,
    step,
)

PROMO = {"segment": "lyon", "subject": "Spring offer", "text": "15% off this week", "coupon": "SPRING15"}


def test_a_campaign_reaches_the_members_already_in_its_segment(engine):
    tenant = campaign_tenant(engine, {"promo": {**PROMO, "at": at(hours=1).isoformat()}})
    add_contact(engine, tenant, "ana@example.fr")
    add_contact(engine, tenant, "bob@example.fr")
    add_contact(engine, tenant, "noconsent@example.fr", consent=None)
    add_contact(engine, tenant, "paul@example.fr", city="Paris")
    refresh(engine, tenant, at(minutes=-5))

    assert step(engine, tenant, at()).sends == []  # not yet its time
    assert state(engine, tenant, "promo") == "scheduled"
    report = step(engine, tenant, at(hours=1))
    assert report.started == ["promo"] and report.finished == ["promo"]
    sent = outbox(engine, tenant, "campaign:promo")
    assert sorted((m.to_address, m.status, m.reason) for m in sent) == [
        ("ana@example.fr", "scheduled", None),
        ("bob@example.fr", "scheduled", None),
        ("noconsent@example.fr", "dropped", "consent"),
    ]
    assert {m.id for m in sent if m.status == "scheduled"} == {i for i, _ in report.sends}
    assert all(m.context["coupon"] == "SPRING15" and m.context["subject"] == "Spring offer" for m in sent)
    assert [r.state for r in recipients(engine, tenant, "promo")] == ["done"] * 3
    assert state(engine, tenant, "promo") == "done"
    # nothing more, ever
    assert step(engine, tenant, at(days=2)).sends == []
    assert len(outbox(engine, tenant, "campaign:promo")) == 3


def test_a_rule_audience_with_exclusion_segments(engine):
    spec = {"rule": {"field": "city", "equals": "Lyon"}, "exclude": ["belgians"], "at": at().isoformat()}
    tenant = campaign_tenant(engine, {"rule-promo": spec})
    add_contact(engine, tenant, "ana@example.fr")
    add_contact(engine, tenant, "jef@example.be", country="BE")
    add_contact(engine, tenant, "paul@example.fr", city="Paris")
    refresh(engine, tenant, at(minutes=-5))
    step(engine, tenant, at())
    assert [m.to_address for m in outbox(engine, tenant, "campaign:rule-promo")] == ["ana@example.fr"]


def test_at_each_contacts_local_time(engine):
    spec = {**PROMO, "at": "2026-03-03T10:00", "local_time": True}
    tenant = campaign_tenant(engine, {"local": spec})
    add_contact(engine, tenant, "tokyo@example.jp", timezone="Asia/Tokyo")
    add_contact(engine, tenant, "paris@example.fr")  # no zone of their own: the shop's (Europe/Paris)
    add_contact(engine, tenant, "ny@example.com", timezone="America/New_York")
    refresh(engine, tenant, at(minutes=-5))

    stops = clock(engine, tenant, at(), at(days=3))
    times = {m.to_address: m.due_at for m in outbox(engine, tenant, "campaign:local")}
    assert times == {
        "tokyo@example.jp": datetime(2026, 3, 3, 1, 0, tzinfo=UTC),
        "paris@example.fr": datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
        "ny@example.com": datetime(2026, 3, 3, 15, 0, tzinfo=UTC),
    }
    assert datetime(2026, 3, 2, 20, 0, tzinfo=UTC) in stops  # it started when it was first 10:00 anywhere (UTC+14)


def test_throttled_per_hour(engine):
    tenant = campaign_tenant(engine, {"slow": {**PROMO, "at": at().isoformat(), "per_hour": 2}})
    for n in range(5):
        add_contact(engine, tenant, f"c{n}@example.fr")
    refresh(engine, tenant, at(minutes=-5))

    assert len(step(engine, tenant, at()).sends) == 2
    assert step(engine, tenant, at(minutes=30)).sends == []
    stops = clock(engine, tenant, at(minutes=30), at(hours=5))
    sent = sorted(m.created_at for m in outbox(engine, tenant, "campaign:slow"))
    assert len(sent) == 5
    assert sent == [at(), at(), at(hours=1), at(hours=1), at(hours=2)]
    assert stops[0] == at(hours=1)
    for moment in sent:  # never more than 2 in any hour
        assert sum(1 for other in sent if moment <= other < moment + timedelta(hours=1)) <= 2


def test_pressure_caps_a_campaign_is_the_lowest_priority(engine):
    flows = {"pressure": {"per_day": 1, "per_week": 3}}
    campaigns = {
        "first": {**PROMO, "at": at().isoformat()},
        "second": {**PROMO, "subject": "Another", "at": at(hours=1).isoformat()},
    }
    tenant = campaign_tenant(engine, campaigns, flows=flows)
    add_contact(engine, tenant, "ana@example.fr")
    refresh(engine, tenant, at(minutes=-5))

    step(engine, tenant, at())
    step(engine, tenant, at(hours=1))
    second = outbox(engine, tenant, "campaign:second")
    assert second == []  # the day is taken: moved, not dropped
    [recipient] = recipients(engine, tenant, "second")
    assert recipient.state == "pending" and recipient.reason == "pressure"
    tomorrow_8 = datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 in Paris, the end of the quiet hours
    assert recipient.due_at == tomorrow_8
    clock(engine, tenant, at(hours=1), at(days=2))
    [message] = outbox(engine, tenant, "campaign:second")
    assert (message.status, message.due_at) == ("scheduled", tomorrow_8)


def test_pressure_drops_once_past_expiry(engine):
    flows = {"pressure": {"per_day": 1, "per_week": 1}}
    campaigns = {
        "first": {**PROMO, "at": at().isoformat()},
        "second": {**PROMO, "at": at(hours=1).isoformat(), "expires_hours": 24},
    }
    tenant = campaign_tenant(engine, campaigns, flows=flows)
    add_contact(engine, tenant, "ana@example.fr")
    refresh(engine, tenant, at(minutes=-5))
    clock(engine, tenant, at(), at(days=3))
    [message] = outbox(engine, tenant, "campaign:second")
    assert (message.status, message.reason) == ("dropped", "pressure")


def test_quiet_hours_move_the_message_to_the_morning(engine):
    tenant = campaign_tenant(engine, {"late": {**PROMO, "at": "2026-03-02T22:30:00+01:00"}})
    add_contact(engine, tenant, "ana@example.fr")
    add_contact(engine, tenant, "tokyo@example.jp", timezone="Asia/Tokyo")
    refresh(engine, tenant, at(minutes=-5))
    clock(engine, tenant, at(), at(days=2))
    times = {m.to_address: m.due_at for m in outbox(engine, tenant, "campaign:late")}
    assert times["ana@example.fr"] == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # 08:00 in Paris
    assert times["tokyo@example.jp"] == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)  # 06:30 in Tokyo: at 08:00 there


def test_cancel_mid_send(engine):
    tenant = campaign_tenant(engine, {"big": {**PROMO, "at": at().isoformat(), "per_hour": 2}})
    for n in range(5):
        add_contact(engine, tenant, f"c{n}@example.fr")
    refresh(engine, tenant, at(minutes=-5))
    step(engine, tenant, at())
    with engine.begin() as conn:
        cancel_campaign(conn, tenant, "big", at(minutes=10))
        progress = campaign_progress(conn, tenant, "big")
    assert (progress.state, progress.done, progress.cancelled, progress.pending) == ("cancelled", 2, 3, 0)
    assert clock(engine, tenant, at(minutes=10), at(days=2)) == []
    assert len(outbox(engine, tenant, "campaign:big")) == 2


def test_cancel_before_it_starts_and_messages_not_yet_sent_are_dropped(engine):
    tenant = campaign_tenant(engine, {"soon": {**PROMO, "at": at(hours=2).isoformat()}})
    add_contact(engine, tenant, "ana@example.fr")
    refresh(engine, tenant, at(minutes=-5))
    with engine.begin() as conn:
        cancel_campaign(conn, tenant, "soon", at())
    assert clock(engine, tenant, at(), at(days=2)) == []
    assert outbox(engine, tenant, "campaign:soon") == []
    assert state(engine, tenant, "soon") == "cancelled"


def test_a_crash_mid_batch_resumes_without_duplicates(engine):
    tenant = campaign_tenant(engine, {"promo": {**PROMO, "at": at().isoformat()}})
    for n in range(7):
        add_contact(engine, tenant, f"c{n}@example.fr")
    refresh(engine, tenant, at(minutes=-5))
    with engine.begin() as conn:  # the audience is fixed
        run_due(conn, tenant, at(), limit=3)

    class Crash(Exception):
        pass

    with pytest.raises(Crash), engine.begin() as conn:  # a worker killed after writing a batch
        report = run_due(conn, tenant, at(), limit=3)
        assert len(report.sends) == 3
        raise Crash
    assert len(outbox(engine, tenant, "campaign:promo")) == 3  # the first batch only
    # a recipient whose settling was lost is looked at again: its message is not written twice
    with engine.begin() as conn:
        conn.execute(update(campaign_recipients).values(state="pending"))
    step(engine, tenant, at(minutes=1))
    messages = outbox(engine, tenant, "campaign:promo")
    assert sorted(m.to_address for m in messages) == [f"c{n}@example.fr" for n in range(7)]
    assert all(r.state == "done" and r.message_id for r in recipients(engine, tenant, "promo"))


def test_dry_run_lists_who_would_get_what_and_writes_nothing(engine):
    tenant = campaign_tenant(engine)
    add_contact(engine, tenant, "ana@example.fr")
    add_contact(engine, tenant, "tokyo@example.jp", timezone="Asia/Tokyo")
    add_contact(engine, tenant, "noconsent@example.fr", consent=False)
    refresh(engine, tenant, at(minutes=-5))
    with engine.begin() as conn:
        create_campaign(conn, tenant, {"name": "api", **PROMO, "at": "2026-03-03T10:00", "local_time": True}, at())
        planned = dry_run(conn, tenant, "api", at())
    lines = {p.to: (p.outcome, p.reason, p.due_at) for p in planned}
    assert lines == {
        "tokyo@example.jp": ("scheduled", None, datetime(2026, 3, 3, 1, 0, tzinfo=UTC)),
        "ana@example.fr": ("scheduled", None, datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
        "noconsent@example.fr": ("dropped", "consent", datetime(2026, 3, 3, 9, 0, tzinfo=UTC)),
    }
    assert outbox(engine, tenant) == [] and recipients(engine, tenant, "api") == []
    assert state(engine, tenant, "api") == "scheduled"


def _waiting_birthday(engine, tenant, when):
    """A birthday message scheduled for later today (08:00 after quiet hours, say): movable by a higher priority."""
    from sqlalchemy import insert, select

    from core.store.schema import contacts, messages

    with engine.begin() as conn:
        contact_id = conn.execute(select(contacts.c.id).where(contacts.c.email == "ana@example.fr")).scalar_one()
        conn.execute(
            insert(messages).values(
                tenant_id=tenant.id,
                contact_id=contact_id,
                flow="birthday",
                step=1,
                channel="email",
                marketing=True,
                template="birthday/1",
                context={},
                dedupe_key="run:1:step:1",
                status="scheduled",
                due_at=when,
                attempts=0,
                created_at=at(),
                updated_at=at(),
            )  # fmt: skip
        )


@pytest.mark.parametrize(("priority", "birthday_moved"), [("lowest", False), ("highest", True)])
def test_priority_a_campaign_yields_unless_set_higher(engine, priority, birthday_moved):
    tenant = campaign_tenant(engine, {"promo": {**PROMO, "at": at().isoformat(), "priority": priority}})
    add_contact(engine, tenant, "ana@example.fr")
    refresh(engine, tenant, at(minutes=-5))
    _waiting_birthday(engine, tenant, at(hours=6))
    step(engine, tenant, at())
    campaign = outbox(engine, tenant, "campaign:promo")
    birthday = outbox(engine, tenant, "birthday")[0]
    if birthday_moved:  # the campaign goes now; the birthday moves to its next free day
        assert [m.due_at for m in campaign] == [at()]
        assert (birthday.status, birthday.reason, birthday.due_at) == (
            "scheduled",
            "pressure",
            datetime(2026, 3, 3, 7, 0, tzinfo=UTC),
        )
    else:  # the birthday keeps its day; the campaign waits for the next free slot
        assert campaign == [] and birthday.due_at == at(hours=6)
        [recipient] = recipients(engine, tenant, "promo")
        assert (recipient.reason, recipient.due_at) == ("pressure", datetime(2026, 3, 3, 7, 0, tzinfo=UTC))


def test_a_campaign_holdout_receives_nothing_and_the_report_counts_it_under_the_campaign(engine):
    from core.holdouts import held_out
    from core.reports import build_report

    tenant = campaign_tenant(engine, {"promo": {**PROMO, "at": at().isoformat(), "holdout_percent": 50}})
    emails = [f"c{n}@example.fr" for n in range(16)]
    for email in emails:
        add_contact(engine, tenant, email)
    refresh(engine, tenant, at(minutes=-5))
    step(engine, tenant, at())

    sent = outbox(engine, tenant, "campaign:promo")
    assert len(sent) == len(emails)
    expected = {m.to_address for m in sent if held_out(tenant.id, "campaign:promo", m.contact_id, 50)}
    held = {m.to_address for m in sent if m.status == "holdout"}
    assert held == expected and 0 < len(held) < len(emails)  # deterministic, and a share only
    assert all(m.status == "scheduled" for m in sent if m.to_address not in held)
    assert all(m.campaign == "promo" for m in sent)
    outcomes = {r.contact_id: r.outcome for r in recipients(engine, tenant, "promo")}
    assert sorted(outcomes.values()).count("holdout") == len(held)

    from core.store.schema import messages

    with engine.begin() as conn:  # the send job delivered the scheduled ones
        conn.execute(
            update(messages)
            .where(messages.c.tenant_id == tenant.id, messages.c.status == "scheduled")
            .values(status="sent", sent_at=at(minutes=1))
        )
    report = build_report(engine, tenant.id)
    assert "campaign:promo" not in report["flows"]
    promo = report["campaigns"]["promo"]
    assert promo["sent"] == len(emails) - len(held)
    assert promo["holdout"]["holdout"]["contacts"] == len(held)
