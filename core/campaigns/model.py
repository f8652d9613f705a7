"""What a campaign is: an audience, a message, a time, a pace (a frozen value), and how it is read.

``parse(name, raw, path)`` validates one campaign (the tenant file's
``campaigns.<name>``, or what the API is handed) and returns a ``Campaign``;
``Campaign.to_dict()`` gives back what the file holds. The rules of sending
(consent, quiet hours, pressure) are the flows' (``core.flows.rules``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from core.campaigns.errors import CampaignConfigError
from core.holdouts import MAX_PERCENT
from core.model import Channel
from core.segments.rules import Node, parse_rule, referenced_segments

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
KEYS = (
    "holdout_percent",
    "segment",
    "rule",
    "exclude",
    "channel",
    "template",
    "subject",
    "title",
    "text",
    "button",
    "products",
    "coupon",
    "at",
    "local_time",
    "per_hour",
    "priority",
    "expires_hours",
)
DEFAULT_TEMPLATE = "campaign/1"
#: The earliest and latest UTC offsets in use: a local time happens somewhere between these.
EARLIEST_OFFSET = timedelta(hours=14)
LATEST_OFFSET = timedelta(hours=12)


class CampaignState(str, Enum):
    DRAFT = "draft"  # no time yet
    SCHEDULED = "scheduled"  # waits for its time
    SENDING = "sending"  # its audience is fixed; recipients are being sent to
    DONE = "done"  # every recipient was handled
    CANCELLED = "cancelled"


def _fail(path: str, reason: str) -> CampaignConfigError:
    return CampaignConfigError(f"{path}: {reason}")


def _text(value: Any, path: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _fail(path, "must be text")
    out = str(value).strip()
    if len(out) > max_length:
        raise _fail(path, f"must be at most {max_length} characters")
    return out or None


def _whole(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"must be a whole number from {low} to {high}")
    return value


def _when(value: Any, path: str, local: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise _fail(path, "must be a date and time such as 2026-12-10T10:00 (ISO 8601)") from exc
    else:
        raise _fail(path, "must be a date and time such as 2026-12-10T10:00 (ISO 8601)")
    if local and moment.tzinfo is not None:
        raise _fail(path, "with local_time: true, give a local date and time without offset (2026-12-10T10:00)")
    return moment


def name_of(value: Any, path: str = "name") -> str:
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise _fail(path, "must be a campaign name: lower-case letters, digits, - and _, up to 40")
    return value


@dataclass(frozen=True)
class Campaign:
    """A one-off send. ``at`` is an instant (aware) or, with ``local_time``, a local wall time (naive)."""

    name: str
    segment: str | None = None
    rule: Node | None = None
    rule_raw: Mapping[str, Any] | None = None
    exclude: tuple[str, ...] = ()
    channel: Channel = Channel.EMAIL
    template: str = DEFAULT_TEMPLATE
    subject: str | None = None
    title: str | None = None
    text: str | None = None
    button: Mapping[str, str] | None = None
    products: tuple[str, ...] = ()
    coupon: str | None = None
    at: datetime | None = None
    local_time: bool = False
    #: At most this many messages an hour (None: no throttle).
    per_hour: int | None = None
    #: ``lowest`` (default), ``highest``, or a flow's name: the campaign goes just before that flow.
    priority: str = "lowest"
    #: How long after a recipient's time the message is still worth sending (held back by pressure or quiet hours).
    expires_hours: int = 48
    #: This share of the audience (a hash of tenant, ``campaign:NAME`` and contact) receives nothing and is
    #: recorded as ``holdout``, so that the report measures what the campaign earned (docs/reports.md).
    holdout_percent: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def flow(self) -> str:
        """The name its messages carry in the outbox (``messages.flow``)."""
        return f"campaign:{self.name}"

    def segments(self) -> set[str]:
        """Every segment the campaign names (its audience, its rule, its exclusions)."""
        found = set(self.exclude)
        if self.segment:
            found.add(self.segment)
        if self.rule is not None:
            found |= referenced_segments(self.rule)
        return found

    def start_at(self, tenant_timezone: str) -> datetime | None:
        """The first instant anyone can be due: ``at``, or, for a local time, when it is first that time anywhere."""
        if self.at is None:
            return None
        if self.local_time:
            return (self.at - EARLIEST_OFFSET).replace(tzinfo=ZoneInfo("UTC"))
        if self.at.tzinfo is None:
            return self.at.replace(tzinfo=ZoneInfo(tenant_timezone)).astimezone(ZoneInfo("UTC"))
        return self.at.astimezone(ZoneInfo("UTC"))

    def due_for(self, contact_tz: ZoneInfo, tenant_timezone: str) -> datetime:
        """When this contact's message is due: ``at`` in their zone for a local time, else ``at``."""
        assert self.at is not None
        if self.local_time:
            return self.at.replace(tzinfo=contact_tz).astimezone(ZoneInfo("UTC"))
        start = self.start_at(tenant_timezone)
        assert start is not None
        return start

    def context(self) -> dict[str, Any]:
        """What its messages carry for the template (``data.*``, ``products``, ``coupon``)."""
        out: dict[str, Any] = {"campaign": self.name}
        for key in ("subject", "title", "text", "coupon"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.button:
            out["button"] = dict(self.button)
        if self.products:
            out["products"] = list(self.products)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The campaign as a tenant file holds it (round-trips through ``parse``)."""
        out: dict[str, Any] = {}
        if self.segment:
            out["segment"] = self.segment
        if self.rule_raw is not None:
            out["rule"] = dict(self.rule_raw)
        if self.exclude:
            out["exclude"] = list(self.exclude)
        out["channel"] = self.channel.value
        out["template"] = self.template
        for key in ("subject", "title", "text", "coupon"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.button:
            out["button"] = dict(self.button)
        if self.products:
            out["products"] = list(self.products)
        if self.at is not None:
            out["at"] = self.at.isoformat()
        if self.local_time:
            out["local_time"] = True
        if self.per_hour is not None:
            out["per_hour"] = self.per_hour
        if self.priority != "lowest":
            out["priority"] = self.priority
        if self.expires_hours != 48:
            out["expires_hours"] = self.expires_hours
        if self.holdout_percent:
            out["holdout_percent"] = self.holdout_percent
        return out


def parse(name: Any, raw: Any, path: str) -> Campaign:
    """Validate one campaign; raise CampaignConfigError naming the first bad key and what is allowed."""
    name = name_of(name, path)
    if not isinstance(raw, Mapping):
        raise _fail(path, "must be a mapping (segment or rule, subject, at...)")
    unknown = [key for key in raw if key not in KEYS]
    if unknown:
        raise _fail(f"{path}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(KEYS))})")
    if ("segment" in raw) == ("rule" in raw):
        raise _fail(path, "needs an audience: segment (a segment's name) or rule (a segment rule), not both")
    segment = None
    rule = rule_raw = None
    if "segment" in raw:
        segment = _text(raw["segment"], f"{path}.segment", 100)
        if not segment:
            raise _fail(f"{path}.segment", "must name a segment")
    else:
        rule = parse_rule(raw["rule"], f"{path}.rule")
        rule_raw = dict(raw["rule"])
    exclude_raw = raw.get("exclude") or []
    if isinstance(exclude_raw, str):
        exclude_raw = [exclude_raw]
    if not isinstance(exclude_raw, list) or not all(isinstance(s, str) and s for s in exclude_raw):
        raise _fail(f"{path}.exclude", "must be a list of segment names")
    try:
        channel = Channel(raw.get("channel", "email"))
    except ValueError as exc:
        raise _fail(f"{path}.channel", "must be email or sms") from exc
    template = _text(raw.get("template"), f"{path}.template", 100) or DEFAULT_TEMPLATE
    button = raw.get("button")
    if button is not None:
        if not isinstance(button, Mapping) or set(button) - {"label", "url"} or not button.get("url"):
            raise _fail(f"{path}.button", "must be {label: ..., url: https://...}")
        url = str(button["url"])
        if not url.startswith(("https://", "http://")):
            raise _fail(f"{path}.button.url", "must be an http(s) address")
        button = {"label": str(button.get("label") or ""), "url": url}
    products_raw = raw.get("products") or []
    if not isinstance(products_raw, list) or not all(isinstance(p, str | int) for p in products_raw):
        raise _fail(f"{path}.products", "must be a list of the shop's product ids")
    local = raw.get("local_time", False)
    if not isinstance(local, bool):
        raise _fail(f"{path}.local_time", "must be true or false")
    per_hour = raw.get("per_hour")
    holdout = raw.get("holdout_percent", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout <= MAX_PERCENT:
        raise _fail(f"{path}.holdout_percent", f"must be a number from 0 to {MAX_PERCENT:g} (suggested: 10)")
    priority = raw.get("priority", "lowest")
    if not isinstance(priority, str) or not priority:
        raise _fail(f"{path}.priority", "must be lowest, highest or a flow's name")
    return Campaign(
        name=name,
        segment=segment,
        rule=rule,
        rule_raw=rule_raw,
        exclude=tuple(dict.fromkeys(exclude_raw)),
        channel=channel,
        template=template,
        subject=_text(raw.get("subject"), f"{path}.subject", 200),
        title=_text(raw.get("title"), f"{path}.title", 200),
        text=_text(raw.get("text"), f"{path}.text", 5000),
        button=button,
        products=tuple(str(p) for p in products_raw)[:12],
        coupon=_text(raw.get("coupon"), f"{path}.coupon", 100),
        at=_when(raw.get("at"), f"{path}.at", local),
        local_time=local,
        per_hour=None if per_hour is None else _whole(per_hour, f"{path}.per_hour", 1, 1_000_000),
        priority=priority,
        expires_hours=_whole(raw.get("expires_hours", 48), f"{path}.expires_hours", 1, 24 * 14),
        holdout_percent=float(holdout),
    )


def from_stored(name: str, spec: Mapping[str, Any]) -> Campaign:
    """A stored campaign's definition (it was validated when stored)."""
    return parse(name, spec, f"campaigns.{name}")
