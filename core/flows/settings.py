"""The ``flows`` section of a tenant file: validation, defaults, typed settings.

``validate(value, path)`` is what ``core.sections`` registers: it refuses
unknown keys and bad values naming the key and what is allowed, rejects flows
that can trigger each other in an unguarded loop, and returns the section
normalised (only the keys given; defaults are applied by ``tenant_flows``).
Each built-in flow validates its own key (``core.flows.registry``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import time
from functools import lru_cache
from typing import Any

from core import normalize
from core.flows import registry
from core.flows.config import FlowSettings, TenantFlows
from core.flows.custom import parse_custom, parse_split
from core.flows.cycles import check_cycles
from core.flows.model import Definition, Split
from core.flows.rules import Pressure, QuietHours
from core.flows.values import boolean, fail, hhmm, integer, mapping, normal, number, reject_unknown, time_of_day
from core.holdouts import MAX_PERCENT

COMMON_KEYS = ("pressure", "quiet_hours", "priorities", "notify_email", "coupons")


def _top_keys() -> tuple[str, ...]:
    return (*COMMON_KEYS, *(flow.name for flow in registry.BUILTIN), "custom")


def _pressure(raw: Any, path: str) -> tuple[Pressure, dict[str, Any]]:
    given = mapping(raw, path)
    reject_unknown(given, ("per_day", "per_week"), path)
    per_day = integer(given.get("per_day", 1), f"{path}.per_day", 1, 20)
    per_week = integer(given.get("per_week", 3), f"{path}.per_week", 1, 100)
    if per_week < per_day:
        raise fail(f"{path}.per_week", f"must be at least per_day ({per_day})")
    return Pressure(per_day, per_week), dict(given)


def _quiet(raw: Any, path: str) -> tuple[QuietHours, Any]:
    if raw is False:
        return QuietHours(time(0), time(0)), False
    given = mapping(raw, path)
    reject_unknown(given, ("start", "end"), path)
    start = time_of_day(given.get("start", "21:00"), f"{path}.start")
    end = time_of_day(given.get("end", "08:00"), f"{path}.end")
    return QuietHours(start, end), {"start": hhmm(start), "end": hhmm(end)}


def _priorities(raw: Any, path: str, custom_names: set[str]) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise fail(path, "must be a list of flow names, highest priority first")
    known = set(registry.BY_NAME) | custom_names
    for index, name in enumerate(raw):
        if name not in known:
            raise fail(f"{path}[{index}]", f"unknown flow {name!r} (allowed: {', '.join(sorted(known))})")
    if len(set(raw)) != len(raw):
        raise fail(path, "names a flow twice")
    rest = [name for name in registry.DEFAULT_PRIORITIES if name not in raw]
    return tuple(raw) + tuple(rest)


def _holdout(raw: Any, path: str, holdouts: dict[str, float], name: str) -> Any:
    """Take ``holdout_percent`` (common to every flow) out of a flow's settings; return the rest."""
    if not isinstance(raw, Mapping) or "holdout_percent" not in raw:
        return raw
    holdouts[name] = number(raw["holdout_percent"], f"{path}.holdout_percent", 0, MAX_PERCENT)
    return {key: value for key, value in raw.items() if key != "holdout_percent"}


def _split(raw: Any, path: str, splits: dict[str, Split], name: str) -> Any:
    """Take ``split`` (an A/B test of a built-in flow's sends) out of its settings; return the rest."""
    if not isinstance(raw, Mapping) or "split" not in raw:
        return raw
    split = parse_split(raw["split"], f"{path}.split")
    if any(v.delay for v in split.variants):
        raise fail(f"{path}.split", "a built-in flow's variants change template, subject or channel, not delay_hours")
    splits[name] = split
    return {key: value for key, value in raw.items() if key != "split"}


def definitions(settings: FlowSettings) -> tuple[Definition, ...]:
    """Every flow switched on for a tenant: the built-in ones, then the tenant's own."""
    built = [flow.define(settings.of(flow.name)) for flow in registry.BUILTIN if settings.of(flow.name).enabled]
    return (*built, *settings.custom)


def parse(value: Any, path: str = "flows") -> tuple[FlowSettings, dict[str, Any]]:
    """Return the typed settings and the normalised section; raise FlowConfigError on a bad key."""
    given = mapping(value, path)
    reject_unknown(given, _top_keys(), path)
    out: dict[str, Any] = {}
    values: dict[str, Any] = {}
    holdouts: dict[str, float] = {}
    splits: dict[str, Split] = {}
    custom_raw = mapping(given.get("custom"), f"{path}.custom")
    custom = tuple(
        parse_custom(name, _holdout(spec, f"{path}.custom.{name}", holdouts, name), f"{path}.custom.{name}")
        for name, spec in custom_raw.items()
    )
    if custom_raw:
        values["custom"] = custom
        try:
            out["custom"] = json.loads(json.dumps(custom_raw))
        except (TypeError, ValueError) as exc:
            raise fail(f"{path}.custom", f"holds a value that is not plain text or a number ({exc})") from exc
    if "pressure" in given:
        values["pressure"], out["pressure"] = _pressure(given["pressure"], f"{path}.pressure")
    if "quiet_hours" in given:
        values["quiet_hours"], out["quiet_hours"] = _quiet(given["quiet_hours"], f"{path}.quiet_hours")
    values["priorities"] = registry.DEFAULT_PRIORITIES
    if "priorities" in given:
        values["priorities"] = _priorities(given["priorities"], f"{path}.priorities", {d.name for d in custom})
        out["priorities"] = list(given["priorities"])
    if given.get("notify_email") is not None:
        try:
            values["notify_email"] = out["notify_email"] = normalize.email(given["notify_email"])
        except ValueError as exc:
            raise fail(f"{path}.notify_email", f"{exc} (use owner@example.com)") from exc
    if "coupons" in given:
        coupons = mapping(given["coupons"], f"{path}.coupons")
        reject_unknown(coupons, ("create",), f"{path}.coupons")
        values["create_coupons"] = boolean(coupons.get("create", False), f"{path}.coupons.create")
        out["coupons"] = {"create": values["create_coupons"]}
    builtin: dict[str, Any] = {}
    for flow in registry.BUILTIN:
        if flow.name in given:
            own = _holdout(given[flow.name], f"{path}.{flow.name}", holdouts, flow.name)
            own = _split(own, f"{path}.{flow.name}", splits, flow.name)
            parsed = flow.parse(own, f"{path}.{flow.name}")
            builtin[flow.name] = parsed
            out[flow.name] = {key: normal(getattr(parsed, key)) for key in mapping(own, flow.name)}
            for key in ("holdout_percent", "split"):
                if key in mapping(given[flow.name], flow.name):
                    out[flow.name][key] = json.loads(json.dumps(given[flow.name][key]))
        else:
            builtin[flow.name] = flow.defaults()
    settings = FlowSettings(builtin=builtin, holdouts=holdouts, splits=splits, **values)
    check_cycles(definitions(settings))
    return settings, out


def validate(value: Any, path: str = "flows") -> Mapping[str, Any]:
    """The tenant file's ``flows`` section, validated and normalised (see ``parse``)."""
    return parse(value, path)[1]


@lru_cache(maxsize=256)
def _cached(serialised: str) -> TenantFlows:
    settings = parse(json.loads(serialised))[0]
    return TenantFlows(settings, {d.name: d for d in definitions(settings)})


def tenant_flows(section: Mapping[str, Any]) -> TenantFlows:
    """The typed settings and flows of a validated ``flows`` section, defaults applied (memoised)."""
    return _cached(json.dumps(section, sort_keys=True, default=str))
