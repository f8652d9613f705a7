"""Hypothesis strategies: valid Event API events, platform records, and the values that break them.

The inputs are built the way trouble arrives: a valid event or a record shaped
exactly like a platform's (the fixtures of tests/fixtures), then a few of its
values replaced by what real feeds send by mistake (zero dates, NUL
characters, 31-digit totals, 10^12 quantities, 412-character emails, lone
surrogates, NaN, deep nesting) or by any JSON at all, or keys removed or added.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from core.events import KNOWN_EVENTS

#: Texts real feeds send by mistake, and values just past each store limit.
NASTY_TEXTS = (
    "",
    " ",
    "0000-00-00",
    "0000-00-00 00:00:00",
    "0000-00-00T00:00:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "1899-12-31T23:59:59Z",
    "3000-01-01T00:00:00Z",
    "2026-13-45T00:00:00Z",
    "2026-11-23 10:15:00",
    "\x00",
    "a\x00b",
    "caf\x00e@example.com",
    "\ud800",
    "x\udfffy",
    "1" + "0" * 30,
    "-1" + "0" * 30,
    "99999999999.99995",
    "99999999999.9999",
    "0.00005",
    "0.00015",
    "1e400",
    "1E-1000",
    "NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "-0",
    "2147483648",
    "1e12",
    "1.5",
    "x" * 101,
    "x" * 201,
    "x" * 321,
    "é" * 501,
    "a" * 400 + "@example.com",
    "a@b.co",
    "https://shop.example.com/" + "p" * 2000,
    "line\nbreak",
    "Europe/Paris",
    "a" * 5000,
    "fr_FR",
    "EUR",
    "FR",
    "paid",
    "\u202egnirts",
)
NASTY_NUMBERS = (
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    10**12,
    10**14,
    10**30,
    -(10**30),
    10**120,
    2**63,
    1e308,
    float("inf"),
    float("-inf"),
    float("nan"),
    -0.0,
    0.1,
    1e-300,
    # What a client decoding JSON with parse_float=Decimal gives (NaN and Infinity stay floats).
    Decimal("1E+30"),
    Decimal("-1E-30"),
    Decimal("0.00001"),
    True,
    False,
)


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
NASTY = st.one_of(
    st.sampled_from(NASTY_TEXTS),
    st.sampled_from(NASTY_NUMBERS),
    JSON,
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=30),
    st.sampled_from((_nested(40), _nested(31), [], {}, [None], {"": None})),
)

IDS = st.one_of(st.integers(min_value=1, max_value=10**9), st.text("abcdefghij0123456789-_:", min_size=1, max_size=40))
NAMES = st.text(min_size=1, max_size=60)
MONEY = st.one_of(
    st.decimals(min_value=-(10**6), max_value=10**9, places=2, allow_nan=False, allow_infinity=False).map(str),
    st.decimals(min_value=0, max_value=10**4, places=6, allow_nan=False, allow_infinity=False).map(str),
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False),
)
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-9, minutes=-30))])
TIMES = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2998, 12, 30), timezones=ZONES).map(
    lambda moment: moment.isoformat()
)
EMAILS = st.one_of(st.emails(), st.sampled_from(["Marie.Dupont@Example.fr", " zoe@example.com "]))


def _item() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"product_id": IDS, "quantity": st.integers(min_value=0, max_value=50), "price": MONEY},
        optional={
            "variant_id": IDS,
            "sku": IDS,
            "name": NAMES,
            "brand": NAMES,
            "categories": st.lists(NAMES, max_size=3),
            "url": st.just("https://shop.example.com/p/1"),
            "image_url": st.just("https://shop.example.com/i/1.jpg"),
        },
    )


def _properties(name: str) -> st.SearchStrategy[dict[str, Any]]:
    items = st.lists(_item(), max_size=3)
    if name in ("order_placed", "order_updated"):
        return st.fixed_dictionaries(
            {
                "order_id": IDS,
                "status": st.sampled_from(["pending", "paid", "completed", "cancelled", "refunded", "failed"]),
                "currency": st.sampled_from(["EUR", "usd", "CHF"]),
                "total": MONEY,
                "items": items,
            },
            optional={"number": IDS, "cart_id": IDS, "created_at": TIMES, "updated_at": TIMES, "coupons": JSON},
        )
    if name in ("cart_updated", "checkout_started"):
        return st.fixed_dictionaries(
            {"cart_id": IDS, "items": items},
            optional={"total": MONEY, "currency": st.just("EUR"), "recovery_url": st.just("https://s.example/c")},
        )
    if name in ("product_updated", "product_viewed"):
        return st.fixed_dictionaries(
            {"product_id": IDS},
            optional={
                "price": MONEY,
                "currency": st.just("EUR"),
                "name": NAMES,
                "sku": IDS,
                "brand": NAMES,
                "categories": st.one_of(NAMES, st.lists(NAMES, max_size=3)),
                "in_stock": st.booleans(),
                "url": st.just("https://shop.example.com/p/1"),
                "image_url": st.just("https://shop.example.com/i/1.jpg"),
                "cross_sell_ids": st.lists(IDS, max_size=3),
            },
        )
    if name == "survey_answered":
        return st.fixed_dictionaries({"score": st.integers(min_value=0, max_value=10)})
    return st.dictionaries(st.text(max_size=10), JSON, max_size=3)


CONTACTS = st.fixed_dictionaries(
    {},
    optional={
        "email": EMAILS,
        "phone": st.sampled_from(["06 12 34 56 78", "+33612345678", "+1 415 555 2671", "123"]),
        "first_name": NAMES,
        "last_name": NAMES,
        "city": NAMES,
        "country": st.sampled_from(["FR", "de", "US"]),
        "birthday": st.dates(min_value=datetime(1900, 1, 1).date()).map(lambda day: day.isoformat()),
        "locale": st.sampled_from(["fr_FR", "en", "de-CH"]),
        "timezone": st.sampled_from(["Europe/Paris", "UTC", "America/New_York"]),
        "external_id": IDS,
        "consent": st.fixed_dictionaries({}, optional={"email": st.booleans(), "sms": st.booleans()}),
        "attributes": st.dictionaries(st.text(max_size=10), JSON, max_size=3),
    },
)


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """An Event API v1 object that follows the contract (most of them are accepted)."""
    name = draw(st.sampled_from(sorted(KNOWN_EVENTS) + ["identify", "custom_event"]))
    raw: dict[str, Any] = {
        "type": "identify" if name == "identify" else "track",
        "message_id": draw(st.text("abcdef0123456789-:", min_size=1, max_size=60)),
        "timestamp": draw(TIMES),
        "contact": draw(CONTACTS),
        "properties": draw(_properties(name)),
    }
    if name != "identify":
        raw["event"] = name
    if draw(st.booleans()):
        raw["anonymous_id"] = draw(st.text("abcdef0123456789", min_size=8, max_size=40))
    if draw(st.booleans()):
        raw["source"] = draw(st.sampled_from(["api", "import", "woocommerce", "magento", "tracker"]))
    if not (raw["contact"].get("email") or raw["contact"].get("external_id") or raw.get("anonymous_id")):
        raw["contact"]["email"] = "someone@example.com"
    return raw


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document a value sits, 8 levels down at most (the root excluded)."""
    found: list[tuple[Any, ...]] = []
    if len(path) >= 8:
        return found
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((*path, key))
            found.extend(_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((*path, index))
            found.extend(_paths(item, (*path, index)))
    return found


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        document = document[step]
    return document


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any], most: int = 3) -> Any:
    """A document from ``base`` with up to ``most`` values replaced, keys removed or unknown keys added."""
    document = copy.deepcopy(draw(base))
    for _ in range(draw(st.integers(min_value=0, max_value=most))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = _parent(document, path)
        action = draw(st.sampled_from(["replace", "replace", "replace", "remove", "add"]))
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(draw(NASTY))
        elif action == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            key = draw(st.sampled_from(["extra", "\x00", "x" * 300, "id", "total", "date_modified_gmt"]))
            parent[key] = copy.deepcopy(draw(NASTY))
    return document


def records(load: Callable[[], list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    """One of a fixture's records, mutated."""
    return mutated(st.sampled_from(load()), most=4)
