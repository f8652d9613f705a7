"""``birthday``: at 09:00 in the contact's zone on their birthday, once a year.

When a higher-priority message takes the day (marketing pressure), the
greeting moves to the next free day within ``late_days`` (2) rather than
being dropped.

People born on 29 February are greeted on 28 February in other years. The
runs are started by the generic date scan (``core.flows.dates``, hourly) like
any flow triggered by a date; the engine re-reads the birthday when a run is
due, so a birthday changed meanwhile is greeted on the right day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

from core.flows import values
from core.flows.model import Definition, Reentry, Send, Trigger, TriggerKind, Wait
from core.flows.plugin import BuiltinFlow
from core.model import Channel

NAME = "birthday"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    channel: Channel = Channel.EMAIL
    at: time = time(9, 0)
    coupon: str | None = None
    #: Days after the birthday the greeting may still go, when a higher-priority message took the day.
    late_days: int = 2


def parse(raw: Any, path: str) -> Settings:
    given = values.mapping(raw, path)
    values.reject_unknown(given, ("enabled", "channel", "at", "coupon", "late_days"), path)
    out = values.common(given, path)
    if "at" in given:
        out["at"] = values.time_of_day(given["at"], f"{path}.at")
    if "coupon" in given:
        out["coupon"] = values.text(given["coupon"], f"{path}.coupon", 60)
    if "late_days" in given:
        out["late_days"] = values.integer(given["late_days"], f"{path}.late_days", 0, 6)
    return Settings(**out)


def define(settings: Settings) -> Definition:
    rest_of_day = timedelta(hours=24) - timedelta(hours=settings.at.hour, minutes=settings.at.minute)
    return Definition(
        name=NAME,
        trigger=Trigger(TriggerKind.DATE, at=settings.at),
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=settings.channel,
                template=f"{NAME}/1",
                coupon=settings.coupon,
                # on the day; a collision with a higher priority postpones it by a day or two, no more
                expires=rest_of_day + timedelta(days=settings.late_days),
            ),
        ),
        reentry=Reentry.YEARLY,
        horizon=rest_of_day,
        builtin=True,
    )


FLOW = BuiltinFlow(name=NAME, priority=30, settings=Settings, parse=parse, define=define)
