from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from core import normalize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Marie.Dupont@Example.FR ", "marie.dupont@example.fr"), ("", None), (None, None)],
)
def test_email_is_trimmed_and_lower_cased(raw, expected):
    assert normalize.email(raw) == expected


@pytest.mark.parametrize("raw", ["marie", "marie@", "a b@example.com", "marie@example"])
def test_malformed_email_is_refused(raw):
    with pytest.raises(ValueError):
        normalize.email(raw)


def test_phone_is_e164_parsed_with_the_country():
    assert normalize.phone("06 12 34 56 78", "FR") == "+33612345678"
    assert normalize.phone("+44 7911 123456", "FR") == "+447911123456"
    assert normalize.phone("", "FR") is None
    with pytest.raises(ValueError):
        normalize.phone("12", "FR")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("49.90", Decimal("49.90")),
        (10.9, Decimal("10.9")),
        (7.003333333333334, Decimal("7.003333333333334")),
        (3, Decimal(3)),
        (Decimal("1.5"), Decimal("1.5")),
    ],
)
def test_money_is_exact_whatever_the_json_type(raw, expected):
    assert normalize.money(raw) == expected


@pytest.mark.parametrize("raw", [None, True, "", "abc", "NaN", float("inf")])
def test_money_refuses_what_is_not_an_amount(raw):
    with pytest.raises(ValueError):
        normalize.money(raw)


def test_money_str_keeps_two_decimals_at_least():
    assert normalize.money_str(Decimal("49.9")) == "49.90"
    assert normalize.money_str(Decimal("49.9000")) == "49.90"
    assert normalize.money_str(Decimal("7.0033")) == "7.0033"
    assert normalize.money_str(Decimal("0")) == "0.00"


def test_timestamps_become_aware_utc():
    assert normalize.timestamp("2026-11-23T10:15:00Z") == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert normalize.timestamp("2026-11-23T11:15:00+01:00") == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    # A shop-local time without a zone is read in the shop's zone (Paris is UTC+1 in November).
    paris = ZoneInfo("Europe/Paris")
    assert normalize.timestamp("2026-11-23 11:15:00", paris) == datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
    assert normalize.timestamp("0000-00-00 00:00:00") is None
    with pytest.raises(ValueError, match="no time zone"):
        normalize.timestamp("2026-11-23T10:15:00")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-02-28", date(1990, 2, 28)),
        ("28/02/1990", date(1990, 2, 28)),
        ("1998-03-16 00:00:00", date(1998, 3, 16)),
        ("0000-00-00", None),
        ("", None),
    ],
)
def test_birthdays_in_common_formats(raw, expected):
    assert normalize.birthday(raw) == expected


def test_plain_text_unescapes_html():
    assert normalize.plain_text("Caf&eacute; &amp; Th&eacute;") == "Café & Thé"
    assert normalize.plain_text("<b>Bold</b> name") == "Bold name"


def test_locale_country_currency_timezone():
    assert normalize.locale("fr-FR") == "fr_FR"
    assert normalize.country("fr") == "FR"
    assert normalize.currency("eur") == "EUR"
    assert normalize.timezone("Europe/Paris") == "Europe/Paris"
    for func, bad in (
        (normalize.locale, "xx_YY_ZZ"),
        (normalize.country, "FRA"),
        (normalize.currency, "EURO"),
        (normalize.timezone, "Mars/Olympus"),
    ):
        with pytest.raises(ValueError):
            func(bad)


def test_remembered_times_are_keyed_by_the_zone_a_naive_text_is_read_in():
    text = "2026-07-01 12:00:00"
    assert normalize.timestamp(text, UTC) == datetime(2026, 7, 1, 12, tzinfo=UTC)
    assert normalize.timestamp(text, ZoneInfo("Europe/Paris")) == datetime(2026, 7, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone offset"):
        normalize.timestamp(text)


def test_remembered_texts_are_normalised_each_time_as_the_first_time():
    assert normalize.plain_text(" A &amp; <b>B</b> ") == "A & B"
    assert normalize.plain_text(12) == "12"
    assert [normalize.currency(v) for v in ("eur", " EUR ", "", None)] == ["EUR", "EUR", None, None]
    assert [normalize.country(v) for v in ("fr", "FR ", " ")] == ["FR", "FR", None]
    with pytest.raises(ValueError, match="currency"):
        normalize.currency("FR")
    with pytest.raises(ValueError, match="country"):
        normalize.country("EUR")
    for _ in range(2):  # a refusal is not remembered as an answer
        with pytest.raises(ValueError):
            normalize.email("Marie@")
    long_name = "x" * 500 + " &amp; y"  # past the remembered length: normalised without the cache
    assert normalize.plain_text(long_name) == "x" * 500 + " & y"


def test_the_same_instant_in_any_zone_is_written_as_the_same_utc_text():
    paris = datetime(2026, 7, 1, 14, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert normalize.isoformat(paris) == "2026-07-01T12:00:00Z"
    assert normalize.isoformat(paris.astimezone(UTC)) == "2026-07-01T12:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        normalize.isoformat(datetime(2026, 7, 1, 12))  # noqa: DTZ001 - the naive one refused


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1990-02-28", date(1990, 2, 28)),
        (" 1990-02-28 00:00:00", date(1990, 2, 28)),
        ("1990-2-28", date(1990, 2, 28)),
        ("28/02/1990", date(1990, 2, 28)),
        ("19900228", date(1990, 2, 28)),
        ("0000-00-00", None),
    ],
)
def test_birthdays_read_alike_first_time_or_remembered(raw, expected):
    assert normalize.birthday(raw) == expected
    assert normalize.birthday(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"), [("1990-02-30", "not a date"), ("2024-W01-1", "not a date"), ("1899-12-31", "before 1900")]
)
def test_birthdays_refused_first_time_or_again(raw, reason):
    for _ in range(2):
        with pytest.raises(ValueError, match=reason):
            normalize.birthday(raw)
