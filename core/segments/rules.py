"""The rule language of dynamic segments: parse and validate a rule into a tree.

A rule is one condition; conditions combine with ``all``, ``any`` and ``not``::

    all:
      - {did: viewed, where: {category: Thé}, at_least: 3, in_last: {days: 30}}
      - not: {did: bought, where: {category: Thé}}

Three kinds of leaves:

- ``{field: city, equals: Lyon}``: a condition on what we know of the contact
  (profile, consent, custom ``attributes.KEY``, score, RFM, predictions);
- ``{did: bought, count: items, at_least: 6, in_last: {months: 6}}``: a
  behaviour counted in a time window;
- ``{segment: loyal_customer}``: membership of another segment.

Every error names the path of the bad part, e.g.
``segments.rules.vip.all[1].at_least: must be a whole number, 0 or more``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from core.errors import ConfigError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
EVENT_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
PROPERTY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

TEXT_FIELDS = ("email", "phone", "first_name", "last_name", "country", "city", "locale", "timezone")
DATE_FIELDS = ("birthday",)
DATETIME_FIELDS = ("created_at", "first_order_at", "last_order_at", "expected_next_order_at")
BOOL_FIELDS = ("consent.email", "consent.sms")
NUMBER_FIELDS = ("score", "rfm.r", "rfm.f", "rfm.m", "orders_count", "total_spent", "p_active", "order_interval_days")
ATTRIBUTE_PREFIX = "attributes."

COMPARISONS = ("at_least", "more_than", "at_most", "fewer_than", "exactly")
TEXT_OPS = ("equals", "not_equals", "in", "not_in", "contains", "starts_with", "exists")
NUMBER_OPS = ("equals", "not_equals", "at_least", "more_than", "at_most", "fewer_than", "exists")
DATE_OPS = ("is", "month", "exists")
DATETIME_OPS = ("in_last", "not_in_last", "exists")
BOOL_OPS = ("equals",)
ATTRIBUTE_OPS = tuple(dict.fromkeys(TEXT_OPS + NUMBER_OPS))
DATE_IS = ("today", "this_month")
WINDOW_UNITS = {"hours": 24 * 365 * 20, "days": 365 * 20, "weeks": 52 * 20, "months": 12 * 20}

#: Behaviours: what ``count`` may measure (the first is the default) and the ``where`` keys allowed.
BEHAVIOURS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bought": (("orders", "items", "products", "amount"), ("brand", "category", "product_id", "sku")),
    "viewed": (("times", "products"), ("brand", "category", "product_id", "sku")),
    "clicked": (("times",), ("brand", "category", "product_id", "flow")),
    "opened": (("times",), ("flow",)),
    "abandoned_cart": (("carts",), ("brand", "category", "product_id", "sku")),
}
#: Any other event name counts events of that name; ``where`` then names its properties.
OTHER_EVENT = (("times",), ())


@dataclass(frozen=True)
class Window:
    unit: str  # hours | days | weeks | months
    amount: int


@dataclass(frozen=True)
class Compare:
    op: str  # one of COMPARISONS
    value: float


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


@dataclass(frozen=True)
class FieldCondition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Behaviour:
    did: str
    measure: str
    compare: Compare
    window: Window | None = None
    where: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class InSegment:
    segment: str


Node = Union[AllOf, AnyOf, Not, FieldCondition, Behaviour, InSegment]  # noqa: UP007 - a runtime alias


def _fail(path: str, reason: str) -> ConfigError:
    return ConfigError(f"{path}: {reason}")


def _number(value: Any, path: str, whole: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, "must be a whole number, 0 or more" if whole else "must be a number")
    if whole and (value != int(value) or value < 0):
        raise _fail(path, "must be a whole number, 0 or more")
    return float(value)


def _text(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise _fail(path, "must be a non-empty text")
    return str(value).strip()


def parse_window(raw: Any, path: str) -> Window:
    """Parse ``{days: 30}`` (or hours, weeks, months) into a Window."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise _fail(path, "must name one unit and an amount, such as {days: 30} (units: hours, days, weeks, months)")
    ((unit, amount),) = raw.items()
    if unit not in WINDOW_UNITS:
        raise _fail(f"{path}.{unit}", "unknown unit (allowed: hours, days, weeks, months)")
    limit = WINDOW_UNITS[unit]
    if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount <= limit:
        raise _fail(f"{path}.{unit}", f"must be a whole number from 1 to {limit}")
    return Window(unit, amount)


def _compare(raw: Mapping[str, Any], path: str, whole: bool) -> Compare:
    given = [key for key in COMPARISONS if key in raw]
    if len(given) > 1:
        raise _fail(f"{path}.{given[1]}", f"give only one of {', '.join(COMPARISONS)}")
    if not given:
        return Compare("at_least", 1.0)
    op = given[0]
    return Compare(op, _number(raw[op], f"{path}.{op}", whole))


def _behaviour(raw: Mapping[str, Any], path: str) -> Behaviour:
    allowed = {"did", "count", "where", "in_last"} | set(COMPARISONS)
    _reject_unknown(raw, allowed, path)
    did = raw["did"]
    if not isinstance(did, str) or not EVENT_NAME_RE.match(did):
        raise _fail(f"{path}.did", f"must be one of {', '.join(BEHAVIOURS)} or an event name such as form_submitted")
    measures, where_keys = BEHAVIOURS.get(did, OTHER_EVENT)
    measure = raw.get("count", measures[0])
    if measure not in measures:
        raise _fail(f"{path}.count", f"must be one of {', '.join(measures)} for did: {did}")
    where_raw = raw.get("where") or {}
    if not isinstance(where_raw, Mapping):
        raise _fail(f"{path}.where", "must be a mapping such as {brand: Verde Tea}")
    where: list[tuple[str, Any]] = []
    for key, value in where_raw.items():
        where_path = f"{path}.where.{key}"
        if did in BEHAVIOURS:
            if key not in where_keys:
                raise _fail(where_path, f"unknown filter for did: {did} (allowed: {', '.join(where_keys)})")
        elif not isinstance(key, str) or not PROPERTY_RE.match(key):
            raise _fail(where_path, "must name a property of the event")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _fail(where_path, "must be a text or a number")
        where.append((str(key), _text(value, where_path) if isinstance(value, str) else value))
    window = parse_window(raw["in_last"], f"{path}.in_last") if "in_last" in raw else None
    compare = _compare(raw, path, whole=measure != "amount")
    return Behaviour(did=did, measure=measure, compare=compare, window=window, where=tuple(where))


def field_kind(name: str) -> str:
    """The type of a field a condition may test: text, date, datetime, bool, number or attribute."""
    if name.startswith(ATTRIBUTE_PREFIX) and PROPERTY_RE.match(name[len(ATTRIBUTE_PREFIX) :]):
        return "attribute"
    for kind, names in (
        ("text", TEXT_FIELDS),
        ("date", DATE_FIELDS),
        ("datetime", DATETIME_FIELDS),
        ("bool", BOOL_FIELDS),
        ("number", NUMBER_FIELDS),
    ):
        if name in names:
            return kind
    return ""


OPS_BY_KIND = {
    "text": TEXT_OPS,
    "date": DATE_OPS,
    "datetime": DATETIME_OPS,
    "bool": BOOL_OPS,
    "number": NUMBER_OPS,
    "attribute": ATTRIBUTE_OPS,
}


def _scalar(value: Any, path: str, kind: str) -> Any:
    if kind == "number":
        return _number(value, path, whole=False)
    if kind == "attribute" and isinstance(value, bool | int | float):
        return value
    return _text(value, path).lower()


def _field(raw: Mapping[str, Any], path: str) -> FieldCondition:
    name = raw["field"]
    kind = field_kind(name) if isinstance(name, str) else ""
    if not kind:
        known = ", ".join(TEXT_FIELDS + DATE_FIELDS + DATETIME_FIELDS + BOOL_FIELDS + NUMBER_FIELDS)
        raise _fail(f"{path}.field", f"unknown field {name!r} (allowed: {known}, or attributes.NAME)")
    ops = OPS_BY_KIND[kind]
    _reject_unknown(raw, {"field", *ops}, path)
    given = [key for key in raw if key != "field"]
    if not given:
        raise _fail(path, f"must give a test for {name} (one of {', '.join(ops)})")
    if len(given) > 1:
        raise _fail(f"{path}.{given[1]}", "give one test per condition (combine conditions with all)")
    op = given[0]
    value = raw[op]
    where = f"{path}.{op}"
    if op == "exists":
        if not isinstance(value, bool):
            raise _fail(where, "must be true or false")
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            raise _fail(where, "must be a non-empty list")
        value = tuple(_scalar(item, f"{where}[{i}]", kind) for i, item in enumerate(value))
    elif op in ("in_last", "not_in_last"):
        value = parse_window(value, where)
    elif op == "is":
        if value not in DATE_IS:
            raise _fail(where, f"must be one of {', '.join(DATE_IS)}")
    elif op == "month":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
            raise _fail(where, "must be a month number from 1 to 12")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise _fail(where, "must be true or false")
    elif op in COMPARISONS:
        value = _number(value, where, whole=False)
    elif op in ("contains", "starts_with"):
        value = _text(value, where).lower()
    else:
        value = _scalar(value, where, kind)
    return FieldCondition(field=name, op=op, value=value)


def _reject_unknown(raw: Mapping[str, Any], allowed: set[str] | tuple[str, ...], path: str) -> None:
    for key in raw:
        if key not in allowed:
            raise _fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(sorted(allowed))})")


def parse_rule(raw: Any, path: str) -> Node:
    """Validate one condition (and everything under it) and return its tree.

    Raises ConfigError naming the path of the first bad part.
    """
    if not isinstance(raw, Mapping) or not raw:
        raise _fail(path, "must be a condition: all, any, not, field, did or segment")
    if "all" in raw or "any" in raw:
        key = "all" if "all" in raw else "any"
        _reject_unknown(raw, {key}, path)
        parts = raw[key]
        if not isinstance(parts, list) or not parts:
            raise _fail(f"{path}.{key}", "must be a non-empty list of conditions")
        nodes = tuple(parse_rule(part, f"{path}.{key}[{i}]") for i, part in enumerate(parts))
        return AllOf(nodes) if key == "all" else AnyOf(nodes)
    if "not" in raw:
        _reject_unknown(raw, {"not"}, path)
        return Not(parse_rule(raw["not"], f"{path}.not"))
    if "segment" in raw:
        _reject_unknown(raw, {"segment"}, path)
        name = raw["segment"]
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise _fail(f"{path}.segment", "must be a segment name")
        return InSegment(name)
    if "field" in raw:
        return _field(raw, path)
    if "did" in raw:
        return _behaviour(raw, path)
    raise _fail(path, f"unknown condition {sorted(raw)[0]!r} (use all, any, not, field, did or segment)")


def referenced_segments(node: Node) -> set[str]:
    """The names of the segments a rule tests membership of."""
    if isinstance(node, AllOf | AnyOf):
        return set().union(*(referenced_segments(part) for part in node.parts))
    if isinstance(node, Not):
        return referenced_segments(node.part)
    if isinstance(node, InSegment):
        return {node.segment}
    return set()
