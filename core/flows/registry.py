"""The one place that lists the built-in flows (and the work they need done periodically).

To add a built-in flow: write its module in ``core.flows.library`` (exporting
``FLOW``), its templates under ``core/flows/library/templates/<lang>/<flow>/``,
and add it to ``BUILTIN`` below. Nothing else names a flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from core.flows.dates import schedule_dates
from core.flows.library import (
    abandoned_cart,
    back_in_stock,
    birthday,
    browse_abandonment,
    cross_sell,
    post_purchase_survey,
    replenishment,
    sunset,
    welcome,
    win_back,
)
from core.flows.plugin import BuiltinFlow, Content, PeriodicWork
from core.flows.starting import begin_for_members

#: The built-in flows, in the order the tenant file and the listings show them.
BUILTIN: tuple[BuiltinFlow, ...] = (
    abandoned_cart.FLOW,
    birthday.FLOW,
    cross_sell.FLOW,
    replenishment.FLOW,
    welcome.FLOW,
    browse_abandonment.FLOW,
    win_back.FLOW,
    post_purchase_survey.FLOW,
    back_in_stock.FLOW,
    sunset.FLOW,
)

BY_NAME: Mapping[str, BuiltinFlow] = {flow.name: flow for flow in BUILTIN}

#: Built-in flow names, highest default priority first.
DEFAULT_PRIORITIES: tuple[str, ...] = tuple(flow.name for flow in sorted(BUILTIN, key=lambda f: f.priority))

CONTACT_EFFECTS = frozenset({"contact_created", "contact_merged", "profile"})

#: Periodic work of the generic triggers (every flow triggered by a date, built-in or the tenant's own).
GENERIC_PERIODIC: tuple[PeriodicWork, ...] = (
    PeriodicWork("dates", timedelta(hours=1), schedule_dates, wakes_on=CONTACT_EFFECTS, idle_every=timedelta(days=7)),
    # segment-triggered flows with include_existing_members: the members already in the segment
    PeriodicWork(
        "existing_members",
        timedelta(hours=1),
        begin_for_members,
        wakes_on=CONTACT_EFFECTS,
        idle_every=timedelta(days=1),
    ),
)


def builtin(name: str) -> BuiltinFlow | None:
    """The built-in flow called ``name`` (None for a tenant's own flow)."""
    return BY_NAME.get(name)


def periodic_work() -> tuple[PeriodicWork, ...]:
    """Everything the flows need done on a cadence: the generic scans, then each built-in flow's."""
    return GENERIC_PERIODIC + tuple(work for flow in BUILTIN for work in flow.periodic)


def flow_contents() -> dict[str, Content]:
    """Content name -> provider, of every built-in flow (``core.flows.content`` adds the generic ones)."""
    found: dict[str, Content] = {}
    for flow in BUILTIN:
        found.update(flow.contents)
    return found


def productless_contents() -> frozenset[str]:
    """Content names of the built-in flows that show no products (a survey, a review invitation)."""
    return frozenset(name for flow in BUILTIN for name in flow.productless)
