"""The tenant file's ``segments`` section: thresholds of the built-in segments and rule-based segments.

::

    segments:
      thresholds:            # every key is optional; these are the defaults
        engaged_days: 90
        loyal_orders: 3
        loyal_days: 365
        new_customer_days: 30
        at_risk_factor: 2
        at_risk_one_time_days: 180
        abandoned_cart_minutes: 60
      rules:
        tea_lovers: {did: bought, where: {category: Thé}, more_than: 1}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

from core.errors import ConfigError
from core.segments.rules import EVENT_NAME_RE, NAME_RE, Node, parse_rule, referenced_segments

TYPOLOGIES = ("cold_prospect", "warm_prospect", "occasional_customer", "loyal_customer")
BUILTIN_SEGMENTS = (*TYPOLOGIES, "at_risk", "new_customer")
#: What counts as engagement for a prospect: opens, clicks, visits, forms, signups, carts.
DEFAULT_ENGAGEMENT_EVENTS = (
    "email_opened",
    "email_clicked",
    "page_viewed",
    "product_viewed",
    "category_viewed",
    "cart_updated",
    "checkout_started",
    "form_submitted",
    "newsletter_subscribed",
    "account_created",
    "survey_answered",
    "order_placed",
)


@dataclass(frozen=True)
class Thresholds:
    engaged_days: int = 90
    loyal_orders: int = 3
    loyal_days: int = 365
    new_customer_days: int = 30
    at_risk_factor: float = 2.0
    at_risk_one_time_days: int = 180
    abandoned_cart_minutes: int = 60
    engagement_events: tuple[str, ...] = DEFAULT_ENGAGEMENT_EVENTS


LIMITS: dict[str, tuple[float, float]] = {
    "engaged_days": (1, 3650),
    "loyal_orders": (1, 1000),
    "loyal_days": (1, 3650),
    "new_customer_days": (1, 3650),
    "at_risk_factor": (1, 100),
    "at_risk_one_time_days": (1, 3650),
    "abandoned_cart_minutes": (1, 60 * 24 * 30),
}


@dataclass(frozen=True)
class SegmentSettings:
    thresholds: Thresholds = field(default_factory=Thresholds)
    #: Rule-based segments, in an order where a rule comes after the segments it refers to.
    rules: tuple[tuple[str, Node], ...] = ()

    def definition(self, segment: str) -> str:
        """A hash of what a segment's membership depends on: a new one means a silent re-fill."""
        if segment in BUILTIN_SEGMENTS:
            payload: Any = {name.name: getattr(self.thresholds, name.name) for name in fields(Thresholds)}
            payload["segment"] = segment
        else:
            payload = {"rule": repr(dict(self.rules)[segment]), "cart": self.thresholds.abandoned_cart_minutes}
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def names(self) -> tuple[str, ...]:
        return BUILTIN_SEGMENTS + tuple(name for name, _ in self.rules)


def _thresholds(raw: Any, path: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping of threshold names to numbers")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"{path}.{key}"
        if key == "engagement_events":
            if not isinstance(value, list) or not value:
                raise ConfigError(f"{where}: must be a non-empty list of event names")
            for i, name in enumerate(value):
                if not isinstance(name, str) or not EVENT_NAME_RE.match(name):
                    raise ConfigError(f"{where}[{i}]: must be an event name such as email_clicked")
            out[key] = list(value)
            continue
        if key not in LIMITS:
            allowed = ", ".join(sorted([*LIMITS, "engagement_events"]))
            raise ConfigError(f"{where}: unknown threshold (allowed: {allowed})")
        low, high = LIMITS[key]
        whole = key != "at_risk_factor"
        ok = not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high
        if not ok or (whole and value != int(value)):
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"{where}: must be {kind} from {low:g} to {high:g}")
        out[key] = int(value) if whole else float(value)
    return out


def _order_rules(rules: dict[str, Node], path: str) -> list[tuple[str, Node]]:
    """Sort rules so that each comes after the rules it refers to; reject unknown names and cycles."""
    for name, node in rules.items():
        for ref in sorted(referenced_segments(node)):
            if ref not in rules and ref not in BUILTIN_SEGMENTS:
                raise ConfigError(f"{path}.{name}: refers to segment {ref!r}, which is neither built in nor a rule")
    ordered: list[tuple[str, Node]] = []
    done: set[str] = set()
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done or name in BUILTIN_SEGMENTS:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ConfigError(f"{path}.{name}: segments refer to each other in a loop ({cycle})")
        visiting.append(name)
        for ref in sorted(referenced_segments(rules[name])):
            visit(ref)
        visiting.pop()
        done.add(name)
        ordered.append((name, rules[name]))

    for name in rules:
        visit(name)
    return ordered


def _parse(raw: Any, path: str) -> tuple[dict[str, Any], SegmentSettings]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping with thresholds and rules")
    for key in raw:
        if key not in ("thresholds", "rules"):
            raise ConfigError(f"{path}.{key}: unknown key (allowed: rules, thresholds)")
    thresholds = _thresholds(raw.get("thresholds"), f"{path}.thresholds")
    rules_raw = raw.get("rules") or {}
    if not isinstance(rules_raw, Mapping):
        raise ConfigError(f"{path}.rules: must be a mapping of segment names to rules")
    rules: dict[str, Node] = {}
    for name, rule in rules_raw.items():
        where = f"{path}.rules.{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            raise ConfigError(f"{where}: segment names use lower-case letters, digits and _, starting with a letter")
        if name in BUILTIN_SEGMENTS:
            raise ConfigError(f"{where}: {name} is a built-in segment; choose another name")
        rules[name] = parse_rule(rule, where)
    ordered = _order_rules(rules, f"{path}.rules")
    values = dict(thresholds)
    if "engagement_events" in values:
        values["engagement_events"] = tuple(values["engagement_events"])
    settings = SegmentSettings(thresholds=Thresholds(**values), rules=tuple(ordered))
    clean: dict[str, Any] = {}
    if thresholds:
        clean["thresholds"] = thresholds
    if rules_raw:
        clean["rules"] = json.loads(json.dumps(dict(rules_raw)))
    return clean, settings


def validate(value: Any, path: str = "segments") -> Mapping[str, Any]:
    """Validate the ``segments`` section of a tenant file; return it as plain data.

    Raises ConfigError naming the path of the first bad part.
    """
    return _parse(value, path)[0]


@lru_cache(maxsize=256)
def _cached(text: str) -> SegmentSettings:
    return _parse(json.loads(text), "segments")[1]


def segment_settings(section: Mapping[str, Any]) -> SegmentSettings:
    """The parsed settings of a (validated) ``segments`` section."""
    return _cached(json.dumps(section, sort_keys=True, default=str))
