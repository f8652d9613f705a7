"""PrestaShop webservice values -> plain Python values (pure).

The webservice sends almost everything as a string ("1", "24.900000",
"0000-00-00 00:00:00"), but PrestaShop 8.0.x on PHP 8.1+ sends integer
columns as JSON numbers; translatable fields are a plain string on a
one-language shop (or with ``language=N``) and a list of ``{"id", "value"}``
otherwise; dates are shop-local with no zone. These helpers accept every form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from core import normalize
from core.model import OrderStatus

#: The format of every PrestaShop date and time (shop-local, no zone).
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"


class RecordError(ValueError):
    """A record cannot be mapped; the message is the reason (no personal data)."""


def ident(value: Any) -> str | None:
    """An id as a string ("12" or 12 -> "12"); 0, "0", blanks and None -> None."""
    kind = type(value)
    if kind is str:  # the common cases first: ids are read on every row of every record
        value = value.strip()
        return value if value and value != "0" else None
    if kind is int:
        return str(value) if value else None
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    text = str(value).strip()
    if not text or text == "0":
        return None
    return text


def require_id(record: Mapping[str, Any]) -> str:
    """The record's own id, or RecordError when it has none."""
    found = ident(record.get("id"))
    if found is None:
        raise RecordError("record without an id")
    return found


def flag(value: Any) -> bool:
    """A PrestaShop boolean: "1", 1 and true are true; "0", 0, "", None are false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in ("1", "true")


def whole(value: Any, default: int = 0) -> int:
    """A whole number from "3", 3 or "3.000000"; ``default`` for blanks."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = normalize.money(value)
    except ValueError as exc:
        raise RecordError(f"not a whole number: {str(value)[:20]!r}") from exc
    if number != number.to_integral_value():
        raise RecordError(f"not a whole number: {str(value)[:20]!r}")
    return int(number)


def amount(value: Any, field: str) -> Decimal:
    """An exact amount from "24.900000", 24.9 or 24; RecordError naming the field otherwise."""
    try:
        return normalize.money(value)
    except ValueError as exc:
        raise RecordError(f"{field}: not an amount") from exc


def translations(value: Any) -> list[str]:
    """Every language's text of a translatable field, in the order the shop sends them."""
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for entry in value:
            if isinstance(entry, Mapping):
                text = entry.get("value")
                if text is not None and not isinstance(text, Mapping | list):
                    out.append(str(text))
        return out
    if isinstance(value, Mapping):
        # Defensive: an XML-to-dict style {"language": [...]} wrapper.
        return translations(value.get("language"))
    return [str(value)]


def text(value: Any, language_id: int | None = None) -> str | None:
    """Plain text of a field that may be translatable: the tenant's language, else the first.

    HTML entities are decoded and tags removed; blanks give None.
    """
    if type(value) is str:
        return normalize.plain_text(value)
    if isinstance(value, list):
        chosen: Any = None
        if language_id is not None:
            chosen = next(
                (
                    entry.get("value")
                    for entry in value
                    if isinstance(entry, Mapping) and ident(entry.get("id")) == str(language_id)
                ),
                None,
            )
        if chosen is None or not str(chosen).strip():
            chosen = next((t for t in translations(value) if t.strip()), None)
        return normalize.plain_text(chosen)
    if isinstance(value, Mapping):
        return text(value.get("language"), language_id)
    if isinstance(value, bool):
        return None
    return normalize.plain_text(value)


def local_time(value: Any, zone: tzinfo) -> datetime | None:
    """A shop-local "YYYY-MM-DD HH:MM:SS" as aware UTC; zero dates and blanks give None."""
    if normalize.is_zero_date(value):
        return None
    try:
        return normalize.timestamp(str(value).strip(), zone)
    except ValueError as exc:
        raise RecordError(f"not a date and time: {str(value)[:30]!r}") from exc


def optional_local_time(value: Any, zone: tzinfo) -> datetime | None:
    """Like ``local_time`` but a malformed value also gives None (for optional dates)."""
    try:
        return local_time(value, zone)
    except RecordError:
        return None


def shop_time(moment: datetime, zone: tzinfo) -> str:
    """An aware datetime as the shop writes it (local, "YYYY-MM-DD HH:MM:SS")."""
    return normalize.utc(moment).astimezone(zone).strftime(LOCAL_FORMAT)


def modified_at(record: Mapping[str, Any], zone: tzinfo) -> datetime:
    """When the record last changed (``date_upd``, else ``date_add``), in UTC."""
    when = local_time(record.get("date_upd"), zone) or local_time(record.get("date_add"), zone)
    if when is None:
        raise RecordError("record without date_upd or date_add")
    return when


def association(record: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """The rows of an association; empty associations are absent from the JSON."""
    associations = record.get("associations")
    if not isinstance(associations, Mapping):
        return []
    rows = associations.get(name)
    if isinstance(rows, Mapping):
        rows = [rows]
    if not isinstance(rows, list):
        return []
    return [row for row in rows if isinstance(row, Mapping)]


def association_ids(record: Mapping[str, Any], name: str) -> list[str]:
    """The ids of an association's rows ("categories", "accessories", ...), in order, once each."""
    seen: dict[str, None] = {}
    for row in association(record, name):
        found = ident(row.get("id"))
        if found is not None:
            seen.setdefault(found, None)
    return list(seen)


# Words that name a state in the languages PrestaShop ships most; matched on the
# lower-cased names of every language. Used only where the flags cannot tell.
_REFUND_WORDS = ("refund", "rembours", "erstatt", "reembols", "rimbors", "terugbetaal", "zwrot")
_PARTIAL_WORDS = ("partial", "partiel", "teilweise", "parcial", "parziale", "gedeeltelijk", "częściow")
_CANCEL_WORDS = ("cancel", "annul", "storn", "anul")
_ERROR_WORDS = ("error", "erreur", "fehler", "errore", "fout", "błąd", "erro", "failed", "échec", "echec")


def _has(names: Iterable[str], words: Iterable[str]) -> bool:
    return any(word in name for name in names for word in words)


def order_status(state: Mapping[str, Any]) -> OrderStatus:
    """Map one of the shop's ``order_states`` onto the six statuses of the Event API.

    State ids differ from shop to shop, so only the state's own data is used:
    the e-mail template PrestaShop gives its built-in states (``refund``,
    ``order_canceled``, ``payment_error``), the state's names, then its flags
    (``shipped`` -> completed; ``paid`` or ``logable`` -> paid; else pending).
    """
    names = [name.lower() for name in translations(state.get("name"))]
    templates = {template.strip().lower() for template in translations(state.get("template"))}
    if "refund" in templates or (_has(names, _REFUND_WORDS) and not _has(names, _PARTIAL_WORDS)):
        return OrderStatus.REFUNDED
    if "order_canceled" in templates or _has(names, _CANCEL_WORDS):
        return OrderStatus.CANCELLED
    if "payment_error" in templates or _has(names, _ERROR_WORDS):
        return OrderStatus.FAILED
    if flag(state.get("shipped")):
        return OrderStatus.COMPLETED
    if flag(state.get("paid")) or flag(state.get("logable")):
        return OrderStatus.PAID
    return OrderStatus.PENDING
