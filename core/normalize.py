"""Turn raw values from platforms, files and forms into the shared model's types.

Every function is pure and raises ``ValueError`` with a short reason when the
value cannot be understood; callers decide whether that skips a record or a
field. Connectors use these so that every platform is normalised the same way.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale, UnknownLocaleError

from core.limits import LIMITS

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: What PostgreSQL refuses in text and JSON (NUL), and what no encoding can write (lone surrogates).
_UNSTORABLE_RE = re.compile("[\x00\ud800-\udfff]")
_CONTROL_RE = re.compile("[\x00-\x1f\x7f]")
AMOUNT_OUT_OF_RANGE = (
    f"amount out of range (at most {LIMITS.money_digits - LIMITS.money_places} digits before the decimal point)"
)
_TAG_RE = re.compile(r"<[^>]+>")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
_ZERO_DATES = ("0000-00-00", "0000-00-00 00:00:00", "0000-00-00T00:00:00")
#: Read once: ``Limits`` computes them on each access, and amounts are checked on every line of every order.
_MONEY_MAX = LIMITS.money_max
_MONEY_QUANTUM = LIMITS.money_quantum
_CENTS = Decimal("0.01")
#: Distinct texts remembered by the normalisers below (bounded LRUs of pure functions): a shop's
#: emails, names, cities, countries, currencies and dates come back record after record, and a
#: connector normalises a value that its event is checked for again. Longer texts are not kept.
_TEXT_CACHE = 8192
_CACHED_LENGTH = 200
#: Times are mostly distinct: they come back within a record (read by the connector, then its mapping,
#: then written into its event), so a short memory is enough.
_TIME_CACHE = 1024


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a NUL character, a lone surrogate), or None when it can."""
    if text.isascii() and "\x00" not in text:  # the common case, without a regex
        return None
    found = _UNSTORABLE_RE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return f"contains a NUL character (at position {found.start() + 1}); remove it"
    return f"is not valid Unicode (a lone surrogate at position {found.start() + 1})"


def email(value: Any) -> str | None:
    """Return the email trimmed and lower-cased, None for blank.

    Raises ValueError for a malformed one, one with control characters, or one
    longer than the store holds (320 characters).
    """
    if value is None:
        return None
    raw = value if type(value) is str else str(value)
    return _email(raw) if len(raw) <= _CACHED_LENGTH else _email.__wrapped__(raw)


@lru_cache(maxsize=_TEXT_CACHE)
def _email(raw: str) -> str | None:
    text = raw.strip().lower()
    if not text:
        return None
    if len(text) > LIMITS.email:
        raise ValueError(f"is longer than {LIMITS.email} characters")
    if not _EMAIL_RE.match(text) or _CONTROL_RE.search(text) or unstorable(text):
        raise ValueError("not an email address")
    return text


#: Phones parsed and remembered (an LRU, bounded): a customer's number comes back with each of their orders.
_PHONE_CACHE = 4096


def phone(value: Any, country: str | None = None) -> str | None:
    """Return the phone in E.164, parsed with the contact's country; None for blank.

    Raises ValueError for a number that is not valid.
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    number, problem = _valid_phone(text, (country or "").upper() or None)
    if problem is not None:
        raise ValueError(problem)
    return number


@lru_cache(maxsize=_PHONE_CACHE)
def _valid_phone(text: str, region: str | None) -> tuple[str | None, str | None]:
    """(the number in E.164, None) when libphonenumber finds it valid, else (None, why): parsing costs ~50 µs."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "not a phone number"
    if not phonenumbers.is_valid_number(parsed):
        return None, "not a valid phone number"
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), None


def possible_phone(value: Any, country: str | None = None) -> str | None:
    """The phone in E.164 when libphonenumber finds it possible (the right length) although not valid
    (a range it does not know, e.g. ``+33 7 11 22 33 44``), else None: kept rather than lost, flagged."""
    text = str(value or "").strip()
    if not text:
        return None
    return _possible_phone(text, (country or "").upper() or None)


@lru_cache(maxsize=_PHONE_CACHE)
def _possible_phone(text: str, region: str | None) -> str | None:
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def money(value: Any) -> Decimal:
    """Return an exact Decimal from a string, int, float or Decimal.

    Floats go through their shortest repr, so 10.9 stays 10.9 (not 10.9000000000000003).
    Raises ValueError for what is not a finite number, and for an amount the
    store cannot hold (10^11 or more: ``core.limits``).
    """
    if isinstance(value, bool) or value is None:
        raise ValueError("not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        text = str(value).strip()
        if not text:
            raise ValueError("not an amount")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError("not an amount") from exc
    if not result.is_finite():
        raise ValueError("not an amount")
    if abs(result) >= _MONEY_MAX:
        raise ValueError(AMOUNT_OUT_OF_RANGE)
    return result


def amount(value: Any) -> Decimal:
    """Return an amount as the store keeps it: ``money`` rounded half-even to 4 decimal places.

    Raises ValueError like ``money``, and when the rounding reaches the limit (99999999999.99995).
    """
    result = money(value).quantize(_MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)
    if abs(result) >= _MONEY_MAX:
        raise ValueError(AMOUNT_OUT_OF_RANGE)
    return result


def money_or_none(value: Any) -> Decimal | None:
    """Like ``money`` but blank values ("" or None) give None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return money(value)


def money_str(value: Decimal) -> str:
    """Format an amount as a decimal string with at least 2 decimals ("49.90", "7.0033").

    An amount too large to format that way (past 26 digits) is written in
    scientific notation, which ``money`` reads back and refuses as out of range.
    """
    try:
        cents = value.quantize(_CENTS)
    except InvalidOperation:
        return str(value)
    if cents == value:
        return format(cents, "f")
    return format(value.normalize(), "f")


def currency(value: Any) -> str | None:
    """Return an ISO 4217 code upper-cased; None for blank; raise if not 3 letters."""
    if value is None:
        return None
    raw = value if type(value) is str else str(value)
    return _code(raw, 3) if len(raw) <= _CACHED_LENGTH else _code.__wrapped__(raw, 3)


def country(value: Any) -> str | None:
    """Return an ISO 3166-1 alpha-2 code upper-cased; None for blank."""
    if value is None:
        return None
    raw = value if type(value) is str else str(value)
    return _code(raw, 2) if len(raw) <= _CACHED_LENGTH else _code.__wrapped__(raw, 2)


@lru_cache(maxsize=_TEXT_CACHE)
def _code(raw: str, letters: int) -> str | None:
    """A currency (3 letters) or country (2 letters) code upper-cased; None for blank; ValueError otherwise."""
    text = raw.strip().upper()
    if not text:
        return None
    if letters == 3:
        if not _CURRENCY_RE.fullmatch(text):
            raise ValueError("not an ISO 4217 currency code")
    elif not _COUNTRY_RE.fullmatch(text):
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return text


def timezone(value: Any) -> str | None:
    """Return an IANA time zone name that exists; None for blank."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    # The longest IANA name is 32 characters; a long one would reach the file system as a path.
    if len(text) > 64:
        raise ValueError("not an IANA time zone such as Europe/Paris")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError("not an IANA time zone such as Europe/Paris") from exc
    return text


def locale(value: Any) -> str | None:
    """Return a locale as ``ll`` or ``ll_CC`` (fr_FR); accepts fr-FR; None for blank."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip().replace("-", "_")
    try:
        parsed = Locale.parse(text)
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError("not a locale such as fr_FR") from exc
    return f"{parsed.language}_{parsed.territory}" if parsed.territory else parsed.language


def plain_text(value: Any) -> str | None:
    """Return text with HTML entities decoded and tags removed ("A &amp; B" -> "A & B")."""
    if value is None:
        return None
    raw = value if type(value) is str else str(value)
    return _plain_text(raw) if len(raw) <= _CACHED_LENGTH else _plain_text.__wrapped__(raw)


@lru_cache(maxsize=_TEXT_CACHE)
def _plain_text(raw: str) -> str | None:
    text = html.unescape(_TAG_RE.sub("", raw)).strip()
    return text or None


def is_zero_date(value: Any) -> bool:
    """True for PrestaShop-style empty dates ("0000-00-00 ...") and blanks."""
    if value is None:
        return True
    text = str(value).strip()
    return not text or text.startswith("0000-00-00")


def timestamp(value: Any, naive_tz: tzinfo | None = None) -> datetime | None:
    """Return an aware UTC datetime from ISO 8601 or "YYYY-MM-DD HH:MM:SS".

    A value without an offset is read in ``naive_tz``; with no ``naive_tz`` it is
    an error. Zero dates and blanks give None.
    """
    if type(value) is str and len(value) <= _CACHED_LENGTH:
        return _timestamp_text(value, naive_tz)
    return _timestamp(value, naive_tz)


@lru_cache(maxsize=_TIME_CACHE)
def _timestamp_text(value: str, naive_tz: tzinfo | None) -> datetime | None:
    return _timestamp(value, naive_tz)


def _timestamp(value: Any, naive_tz: tzinfo | None) -> datetime | None:
    if isinstance(value, datetime):
        parsed = value
    else:
        if is_zero_date(value):
            return None
        text = str(value).strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            raise ValueError("not an ISO 8601 date and time") from exc
    if parsed.tzinfo is None:
        if naive_tz is None:
            raise ValueError("date and time has no time zone offset (add Z or +01:00)")
        parsed = parsed.replace(tzinfo=naive_tz)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before the first UTC time Python knows
        raise ValueError("date and time out of range") from exc


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y/%m/%d", "%Y%m%d", "%d-%m-%Y")


def birthday(value: Any) -> date | None:
    """Return a birthday from the common formats; zero dates and blanks give None."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if type(value) is str and len(value) <= _CACHED_LENGTH:
        return _birthday_text(value)
    return _birthday(value)


@lru_cache(maxsize=_TEXT_CACHE)
def _birthday_text(value: str) -> date | None:
    return _birthday(value)


def _birthday(value: Any) -> date | None:
    if is_zero_date(value):
        return None
    text = str(value).strip()
    if len(text) > 10 and text[10] in " T":
        text = text[:10]
    if len(text) == 10 and text.isascii() and text[:4].isdigit() and text[5:7].isdigit() and text[8:].isdigit():
        try:  # YYYY-MM-DD, the first format, without strptime (what it reads, it reads alike)
            parsed = date.fromisoformat(text) if text[4] == text[7] == "-" else None
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.year < 1900:
                raise ValueError("birthday year before 1900")
            return parsed
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt).date()  # noqa: DTZ007 - a date, no time
        except ValueError:
            continue
        if parsed.year < 1900:
            raise ValueError("birthday year before 1900")
        return parsed
    raise ValueError("not a date (use YYYY-MM-DD)")


def utc(value: datetime) -> datetime:
    """Return an aware datetime converted to UTC; refuse naive ones."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC)


def isoformat(value: datetime | None) -> str | None:
    """Format a datetime as ISO 8601 UTC with a Z ("2026-11-23T10:15:00Z")."""
    if value is None:
        return None
    return _isoformat(value)


@lru_cache(maxsize=_TIME_CACHE)
def _isoformat(value: datetime) -> str:
    # Keyed by the instant (aware datetimes at the same instant are equal): the text is the same UTC one.
    return utc(value).isoformat().replace("+00:00", "Z")
