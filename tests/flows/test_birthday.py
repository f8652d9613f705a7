"""The birthday flow: 09:00 in the contact's zone, once a year, 28 February for 29 February in other years."""

from datetime import UTC, date, datetime

from core.flows.dates import birthday_in

from .helpers import flow_tenant, identify, person, run, runs, sent

ONLY_BIRTHDAY = {
    "abandoned_cart": {"enabled": False},
    "cross_sell": {"enabled": False},
    "replenishment": {"enabled": False},
}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_at_nine_in_the_contacts_zone_on_the_day(engine):
    tenant = flow_tenant(engine, ONLY_BIRTHDAY)
    events = [
        identify(utc(2026, 3, 1), person("paris@example.fr", birthday="1990-03-10")),
        identify(utc(2026, 3, 1), person("tokyo@example.jp", birthday="1985-03-10", timezone="Asia/Tokyo")),
        identify(utc(2026, 3, 1), person("nobody@example.fr", consent=None, birthday="1985-03-10")),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    assert sent(result) == [
        ("birthday", 1, utc(2026, 3, 10, 0, 0), "tokyo@example.jp"),
        ("birthday", 1, utc(2026, 3, 10, 8, 0), "paris@example.fr"),
    ]
    assert result.outcomes["dropped:consent"] == 1


def test_once_a_year(engine):
    tenant = flow_tenant(engine, {**ONLY_BIRTHDAY, "birthday": {"at": "10:30", "coupon": "BDAY"}})
    events = [identify(utc(2026, 1, 5), person("lea@example.fr", birthday="1990-03-10"))]
    result = run(engine, tenant, events, until=utc(2028, 1, 1))
    assert [m.time for m in result.messages] == [utc(2026, 3, 10, 9, 30), utc(2027, 3, 10, 9, 30)]
    assert [r.trigger_key.rsplit(":", 1)[1] for r in runs(engine, tenant)] == ["2026", "2027"]


def test_born_on_29_february():
    assert birthday_in(2026, date(1992, 2, 29)) == date(2026, 2, 28)
    assert birthday_in(2028, date(1992, 2, 29)) == date(2028, 2, 29)
    assert birthday_in(2026, date(1992, 3, 1)) == date(2026, 3, 1)


def test_born_on_29_february_is_greeted_on_28_february_in_other_years(engine):
    tenant = flow_tenant(engine, ONLY_BIRTHDAY)
    events = [identify(utc(2026, 1, 5), person("leap@example.fr", birthday="1992-02-29"))]
    result = run(engine, tenant, events, until=utc(2028, 12, 31))
    assert [m.time for m in result.messages] == [utc(2026, 2, 28, 8, 0), utc(2027, 2, 28, 8, 0), utc(2028, 2, 29, 8, 0)]


def test_a_birthday_given_on_the_day_is_still_greeted_that_day(engine):
    tenant = flow_tenant(engine, ONLY_BIRTHDAY)
    events = [
        identify(utc(2026, 1, 5), person("late@example.fr")),
        identify(utc(2026, 3, 10, 12, 0), {"email": "late@example.fr", "birthday": "1990-03-10"}),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    # the hourly scan finds it within the hour
    assert [(m.flow, m.to) for m in result.messages] == [("birthday", "late@example.fr")]
    assert utc(2026, 3, 10, 12, 0) <= result.messages[0].time <= utc(2026, 3, 10, 13, 0)


def test_a_corrected_birthday_is_greeted_on_the_new_date(engine):
    tenant = flow_tenant(engine, ONLY_BIRTHDAY)
    events = [
        identify(utc(2026, 1, 5), person("fix@example.fr", birthday="1990-03-10")),
        identify(utc(2026, 3, 9), {"email": "fix@example.fr", "birthday": "1990-03-12"}),
    ]
    result = run(engine, tenant, events, until=utc(2026, 3, 20))
    assert sent(result) == [("birthday", 1, utc(2026, 3, 12, 8, 0), "fix@example.fr")]
