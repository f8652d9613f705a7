"""A tenant's own flows, from the ``flows.custom`` section of the tenant file.

```yaml
custom:
  welcome:
    trigger: {event: account_created}          # or {segment: vip}, {date: birthday, at: "10:00"},
                                               # {event: email_clicked, where: {flow: welcome}}
    steps:
      - if: {not_tagged: welcomed}             # then: next (default), else: end (default)
      - wait: {hours: 1}                       # minutes / hours / days, until: "09:00", from: trigger
      - send: email                            # template (default welcome/1), content, coupon, marketing
      - tag: welcomed
      - emit: newsletter_subscribed
    exit: [order_placed]
    reentry: once                              # once_per_object | once_a_year | {every_days: 30}
```
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from core import normalize
from core.events import CART_EVENTS, ORDER_EVENTS, PRODUCT_EVENTS
from core.flows import registry
from core.flows.model import (
    COMPARISONS,
    Action,
    Condition,
    Definition,
    EventMatch,
    Reentry,
    Send,
    Split,
    Step,
    Test,
    Trigger,
    TriggerKind,
    UniqueCoupon,
    Variant,
    Wait,
)
from core.flows.values import (
    boolean,
    channel,
    fail,
    integer,
    mapping,
    number,
    reject_unknown,
    text,
    time_of_day,
)
from core.model import CONTACT_FIELDS

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
EVENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
#: Facts that come from the shop or from Relance itself: a flow cannot make them up.
NOT_EMITTABLE = CART_EVENTS | ORDER_EVENTS | PRODUCT_EVENTS | {"segment_entered", "segment_exited"}
NOT_EMITTABLE |= {"email_opened", "email_clicked"}
CONTENTS = ("none", "recommendations", "viewed")
STEP_KINDS = (
    "wait", "if", "send", "split", "tag", "untag", "set", "emit", "notify", "unsubscribe", "suppress", "webhook"
)  # fmt: skip
WINNER_METRICS = ("clicked", "orders")
TESTS = ("tagged", "not_tagged", "property", "event", "did", "not_did", "in_segment", "not_in_segment", "consent")
CHANNEL_CHOICES = ("email", "sms", "all")
PROPERTIES = (*CONTACT_FIELDS, "attributes.<key>")


def _event_name(value: Any, path: str) -> str:
    name = text(value, path, 100)
    if not name or not EVENT_RE.match(name):
        raise fail(path, "must be an event name such as order_placed (lower-case letters, digits and _)")
    return name


def _match(raw: Any, path: str) -> EventMatch:
    if isinstance(raw, str):
        return EventMatch(_event_name(raw, path))
    given = mapping(raw, path)
    reject_unknown(given, ("event", "where"), path)
    where = mapping(given.get("where"), f"{path}.where")
    for key, value in where.items():
        if isinstance(value, Mapping | list):
            raise fail(f"{path}.where.{key}", "must be a single value")
    return EventMatch(_event_name(given.get("event"), f"{path}.event"), tuple(sorted(where.items())))


def _trigger(raw: Any, path: str) -> Trigger:
    given = mapping(raw, path)
    if "segment" in given:
        reject_unknown(given, ("segment", "include_existing_members"), path)
        existing = boolean(given.get("include_existing_members", False), f"{path}.include_existing_members")
        segment = text(given["segment"], f"{path}.segment", 100)
        return Trigger(TriggerKind.SEGMENT, segment=segment, include_existing=existing)
    if "date" in given:
        reject_unknown(given, ("date", "at"), path)
        if given["date"] != "birthday":
            raise fail(f"{path}.date", "only the contact's birthday can trigger a flow by date (date: birthday)")
        return Trigger(TriggerKind.DATE, at=time_of_day(given.get("at", "09:00"), f"{path}.at"))
    if "event" in given:
        return Trigger(TriggerKind.EVENT, event=_match(given, path))
    raise fail(path, "needs event (an event name), segment (a segment name) or date: birthday")


def _duration(given: Mapping[str, Any], path: str) -> timedelta:
    total = timedelta(0)
    for unit, limit in (("minutes", 60 * 24 * 365), ("hours", 24 * 365), ("days", 365)):
        if unit in given:
            total += timedelta(**{unit: number(given[unit], f"{path}.{unit}", 0, limit)})
    return total


def _wait(raw: Any, path: str, label: str | None) -> Wait:
    given = mapping(raw, path)
    reject_unknown(given, ("minutes", "hours", "days", "until", "from", "until_event"), path)
    source = given.get("from", "step")
    if source not in ("step", "trigger"):
        raise fail(f"{path}.from", "must be step (from reaching this step, the default) or trigger")
    until = time_of_day(given["until"], f"{path}.until") if "until" in given else None
    delay = _duration(given, path)
    if not delay and until is None:
        raise fail(path, 'needs minutes, hours, days or until: "HH:MM"')
    until_event = _event_name(given["until_event"], f"{path}.until_event") if "until_event" in given else None
    return Wait(delay=delay, from_anchor=source == "trigger", until_local=until, id=label, until_event=until_event)


def _comparison(given: Mapping[str, Any], path: str, keys: tuple[str, ...]) -> tuple[str, Any]:
    """The one comparison a property or event test makes, and its value."""
    reject_unknown(given, (*keys, *COMPARISONS), path)
    ops = [op for op in COMPARISONS if op in given]
    if len(ops) > 1:
        raise fail(path, f"takes one of {', '.join(COMPARISONS)}")
    op = ops[0] if ops else "exists"
    value = given.get(op, True)
    if op == "in" and not isinstance(value, list):
        raise fail(f"{path}.in", "must be a list of values")
    if op == "exists" and not isinstance(value, bool):
        raise fail(f"{path}.exists", "must be true or false")
    if op in ("at_most", "at_least", "below", "above") and (
        isinstance(value, bool) or not isinstance(value, int | float)
    ):
        raise fail(f"{path}.{op}", "must be a number")
    return op, value


def _test(raw: Any, path: str) -> Test:
    given = mapping(raw, path)
    kinds = [key for key in given if key in TESTS]
    if len(kinds) != 1:
        raise fail(path, f"needs exactly one of {', '.join(TESTS)}")
    kind = kinds[0]
    negate = kind.startswith("not_")
    base = kind.removeprefix("not_")
    if base == "property":
        name = text(given["property"], f"{path}.property", 100) or ""
        if name not in CONTACT_FIELDS and not (name.startswith("attributes.") and len(name) > 11):
            raise fail(f"{path}.property", f"unknown property {name!r} (allowed: {', '.join(PROPERTIES)})")
        op, value = _comparison(given, path, ("property",))
        return Test("property", name, op, value)
    if base == "event":
        name = text(given["event"], f"{path}.event", 200) or ""
        event, _, key = name.partition(".")
        if not EVENT_RE.match(event) or (key and not re.match(r"^[A-Za-z0-9_]{1,100}$", key)):
            raise fail(f"{path}.event", "must be an event name and a property, such as survey_answered.score")
        op, value = _comparison(given, path, ("event",))
        return Test("event", name, op, value)
    reject_unknown(given, (kind,), path)
    if base == "did":
        return Test("did", _event_name(given[kind], f"{path}.{kind}"), negate=negate)
    if base == "consent":
        return Test("consent", channel(given[kind], f"{path}.{kind}").value)
    name = text(given[kind], f"{path}.{kind}", 100)
    if not name:
        raise fail(f"{path}.{kind}", "must name a tag or a segment")
    return Test("segment" if base == "in_segment" else "tagged", name, negate=negate)


def _unique_coupon(raw: Any, path: str) -> UniqueCoupon:
    given = mapping(raw, path)
    reject_unknown(given, ("percent", "amount", "days", "wait_minutes"), path)
    if ("percent" in given) == ("amount" in given):
        raise fail(path, "needs percent (such as 10) or amount (such as 5), not both")
    percent = number(given["percent"], f"{path}.percent", 1, 100) if "percent" in given else None
    amount = number(given["amount"], f"{path}.amount", 0.01, 10000) if "amount" in given else None
    return UniqueCoupon(
        percent=None if percent is None else Decimal(str(percent)),
        amount=None if amount is None else Decimal(str(amount)),
        days=integer(given.get("days", 14), f"{path}.days", 1, 365),
        wait=timedelta(minutes=number(given.get("wait_minutes", 30), f"{path}.wait_minutes", 1, 24 * 60)),
    )


def _send(flow: str, given: Mapping[str, Any], path: str, number_: int, label: str | None) -> Send:
    allowed = ("send", "id", "template", "marketing", "content", "coupon", "unique_coupon", "expires_hours")
    reject_unknown(given, allowed, path)
    content = given.get("content", "none")
    if content not in CONTENTS:
        raise fail(f"{path}.content", f"unknown content {content!r} (allowed: {', '.join(CONTENTS)})")
    marketing = given.get("marketing", True)
    if not isinstance(marketing, bool):
        raise fail(f"{path}.marketing", "must be true or false")
    expires = given.get("expires_hours")
    return Send(
        number=number_,
        channel=channel(given["send"], f"{path}.send"),
        template=text(given.get("template"), f"{path}.template", 100) or f"{flow}/{number_}",
        marketing=marketing,
        content=content,
        coupon=text(given.get("coupon"), f"{path}.coupon", 60),
        expires=None if expires is None else timedelta(hours=number(expires, f"{path}.expires_hours", 1, 24 * 60)),
        id=label,
        unique_coupon=_unique_coupon(given["unique_coupon"], f"{path}.unique_coupon")
        if "unique_coupon" in given
        else None,
    )


def parse_split(raw: Any, path: str, label: str | None = None) -> Split:
    """An A/B split: ``{variants: {a: {}, b: {template, subject, channel, delay_hours, weight}}, winner, min_sample}``."""
    given = mapping(raw, path)
    reject_unknown(given, ("variants", "winner", "min_sample"), path)
    raw_variants = mapping(given.get("variants"), f"{path}.variants")
    if len(raw_variants) < 2:
        raise fail(f"{path}.variants", "needs two variants or more, such as {a: {}, b: {template: promo_b}}")
    variants = []
    for name, spec in raw_variants.items():
        where = f"{path}.variants.{name}"
        if not isinstance(name, str) or not re.match(r"^[a-z0-9_]{1,40}$", name):
            raise fail(where, "a variant name is lower-case letters, digits and _ (up to 40)")
        own = mapping(spec, where)
        reject_unknown(own, ("template", "subject", "channel", "delay_hours", "weight"), where)
        variants.append(
            Variant(
                name=name,
                weight=number(own.get("weight", 1), f"{where}.weight", 0.01, 1000),
                template=text(own.get("template"), f"{where}.template", 100),
                subject=text(own.get("subject"), f"{where}.subject", 200),
                channel=channel(own["channel"], f"{where}.channel") if "channel" in own else None,
                delay=timedelta(hours=number(own.get("delay_hours", 0), f"{where}.delay_hours", 0, 24 * 60)),
            )
        )
    winner = given.get("winner")
    if winner is not None and winner not in WINNER_METRICS:
        raise fail(f"{path}.winner", f"must be one of {', '.join(WINNER_METRICS)} (the metric that picks the winner)")
    min_sample = integer(given.get("min_sample", 100), f"{path}.min_sample", 10, 1_000_000)
    return Split(tuple(variants), winner, min_sample, id=label)


def _step(flow: str, raw: Any, path: str, sends: int) -> Step:
    given = mapping(raw, path)
    kinds = [key for key in given if key in STEP_KINDS]
    if len(kinds) != 1:
        raise fail(path, f"needs exactly one of {', '.join(STEP_KINDS)}")
    kind = kinds[0]
    label = text(given.get("id"), f"{path}.id", 40)
    if kind == "send":
        return _send(flow, given, path, sends + 1, label)
    if kind == "split":
        reject_unknown(given, ("split", "id"), path)
        return parse_split(given["split"], f"{path}.split", label)
    if kind == "if":
        reject_unknown(given, ("if", "then", "else", "id"), path)
        then = text(given.get("then", "next"), f"{path}.then", 40) or "next"
        otherwise = text(given.get("else", "end"), f"{path}.else", 40) or "end"
        return Condition(_test(given["if"], f"{path}.if"), then, otherwise, id=label)
    reject_unknown(given, (kind, "id", "to") if kind == "notify" else (kind, "id", "reason"), path)
    if kind != "unsubscribe" and "reason" in given:
        raise fail(f"{path}.reason", "only an unsubscribe step takes a reason")
    if kind == "wait":
        return _wait(given["wait"], f"{path}.wait", label)
    if kind == "set":
        values = mapping(given["set"], f"{path}.set")
        if len(values) != 1:
            raise fail(f"{path}.set", "must set one attribute, such as {vip: true}")
        ((key, value),) = values.items()
        if isinstance(value, Mapping | list):
            raise fail(f"{path}.set.{key}", "must be a single value")
        return Action("set", str(key), value, id=label)
    if kind == "emit":
        name = _event_name(given["emit"], f"{path}.emit")
        if name in NOT_EMITTABLE:
            raise fail(f"{path}.emit", f"{name} is recorded by the shop or by Relance; a flow cannot emit it")
        return Action("emit", name, id=label)
    if kind in ("unsubscribe", "suppress"):
        choice = given[kind]
        if choice not in CHANNEL_CHOICES:
            raise fail(f"{path}.{kind}", f"must be one of {', '.join(CHANNEL_CHOICES)}")
        reason = text(given.get("reason"), f"{path}.reason", 60)
        return Action(kind, choice, reason, id=label)
    if kind == "webhook":
        url = text(given[kind], f"{path}.webhook", 2000) or ""
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise fail(f"{path}.webhook", "must be an http(s) URL, such as https://crm.example.com/relance")
        return Action("webhook", url, id=label)
    value = text(given[kind], f"{path}.{kind}", 500)
    if not value:
        raise fail(f"{path}.{kind}", "must not be empty")
    if kind == "notify" and given.get("to") is not None:
        try:
            return Action(kind, value, normalize.email(given["to"]), id=label)
        except ValueError as exc:
            raise fail(f"{path}.to", f"{exc} (use owner@example.com)") from exc
    return Action(kind, value, id=label)


def _check_targets(steps: tuple[Step, ...], labels: dict[str, int], path: str) -> None:
    for index, step in enumerate(steps):
        if not isinstance(step, Condition):
            continue
        for key, target in (("then", step.then), ("else", step.otherwise)):
            if target in ("next", "end"):
                continue
            if target not in labels:
                raise fail(f"{path}.steps[{index}].{key}", f"no step has id {target!r} (or use next, end)")
            if labels[target] <= index:
                raise fail(f"{path}.steps[{index}].{key}", f"must lead to a later step ({target!r} comes before)")


def _reentry(raw: Any, path: str) -> tuple[Reentry, int]:
    if isinstance(raw, Mapping):
        reject_unknown(raw, ("every_days",), path)
        return Reentry.EVERY_DAYS, integer(raw.get("every_days"), f"{path}.every_days", 1, 3650)
    allowed = [r.value for r in Reentry if r is not Reentry.EVERY_DAYS]
    if raw not in allowed:
        raise fail(path, f"must be one of {', '.join(allowed)} or {{every_days: N}}")
    return Reentry(raw), 0


def parse_custom(name: Any, raw: Any, path: str) -> Definition:
    """Return the definition of one of the tenant's own flows; raise FlowConfigError naming the bad key."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise fail(path, "a flow name is lower-case letters, digits and _ (up to 40), starting with a letter")
    if name in registry.BY_NAME:
        raise fail(path, f"{name} is a built-in flow; configure it under flows.{name}")
    given = mapping(raw, path)
    reject_unknown(given, ("trigger", "steps", "exit", "reentry", "horizon_days"), path)
    trigger = _trigger(given.get("trigger"), f"{path}.trigger")
    raw_steps = given.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise fail(f"{path}.steps", f"must be a list of steps ({', '.join(STEP_KINDS)})")
    steps: list[Step] = []
    for index, raw_step in enumerate(raw_steps):
        step = _step(name, raw_step, f"{path}.steps[{index}]", sum(isinstance(s, Send) for s in steps))
        if isinstance(step, Split) and any(isinstance(s, Split) for s in steps):
            raise fail(f"{path}.steps[{index}].split", "a flow has one A/B split at most")
        steps.append(step)
    labels: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.id:
            if step.id in labels or step.id in ("next", "end"):
                raise fail(f"{path}.steps[{index}].id", f"{step.id!r} is used twice or reserved")
            labels[step.id] = index
    _check_targets(tuple(steps), labels, path)
    exits_raw = given.get("exit") or []
    if isinstance(exits_raw, str | Mapping):
        exits_raw = [exits_raw]
    if not isinstance(exits_raw, list):
        raise fail(f"{path}.exit", "must be a list of event names, such as [order_placed]")
    exits = tuple(_match(item, f"{path}.exit[{index}]") for index, item in enumerate(exits_raw))
    default_reentry = "once_a_year" if trigger.kind is TriggerKind.DATE else "once"
    reentry, every = _reentry(given.get("reentry", default_reentry), f"{path}.reentry")
    if trigger.kind is TriggerKind.DATE and reentry is not Reentry.YEARLY:
        raise fail(f"{path}.reentry", "a flow triggered by a date runs once a year (once_a_year)")
    horizon = integer(given.get("horizon_days", 2), f"{path}.horizon_days", 1, 365)
    return Definition(
        name=name,
        trigger=trigger,
        steps=tuple(steps),
        exits=exits,
        reentry=reentry,
        reentry_days=every,
        horizon=timedelta(days=horizon),
        labels=tuple(labels.items()),
    )
