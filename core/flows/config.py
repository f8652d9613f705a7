"""A tenant's flow settings, typed: the rules every flow shares, each built-in flow's own, the custom flows.

Values only; ``core.flows.settings`` builds them from the tenant file and
``core.flows.registry`` says which built-in flows there are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.flows.model import Definition, Split
from core.flows.rules import Pressure, QuietHours


@dataclass(frozen=True)
class FlowSettings:
    pressure: Pressure = field(default_factory=Pressure)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    #: Flow names, highest priority first (every built-in flow is listed).
    priorities: tuple[str, ...] = ()
    notify_email: str | None = None
    #: The shop granted write access: unique coupons are created in it (``flows.coupons.create``).
    create_coupons: bool = False
    #: Built-in flow name -> its typed settings (defaults applied).
    builtin: Mapping[str, Any] = field(default_factory=dict)
    custom: tuple[Definition, ...] = ()
    #: Flow name -> the percentage of its contacts held out (``flows.<flow>.holdout_percent``; 0 when absent).
    holdouts: Mapping[str, float] = field(default_factory=dict)
    #: Built-in flow name -> its A/B test (``flows.<flow>.split``), given at the flow's first send.
    splits: Mapping[str, Split] = field(default_factory=dict)

    def rank(self, flow: str) -> int:
        """Priority rank of a flow: 0 goes first; flows not listed come after, in name order."""
        try:
            return self.priorities.index(flow)
        except ValueError:
            return len(self.priorities)

    def of(self, flow: str) -> Any:
        """The typed settings of the built-in flow ``flow``."""
        return self.builtin[flow]

    def __getattr__(self, name: str) -> Any:
        # ``settings.cross_sell`` reads like a field; the built-in flows are a registry, not fields.
        builtin = self.__dict__.get("builtin") or {}
        if name in builtin:
            return builtin[name]
        raise AttributeError(name)


@dataclass(frozen=True)
class TenantFlows:
    """A tenant's flow settings and the definitions of its switched-on flows, by name."""

    settings: FlowSettings
    by_name: Mapping[str, Definition]
