"""What a flow is: a trigger, steps, an exit goal and a re-entry rule (frozen values).

Definitions are data: the built-in flows (``core.flows.library``) and a
tenant's own flows (``core.flows.custom``) are the same kind of value, and the
engine interprets them the same way. Steps form a list; a condition jumps to
``next``, ``end`` or a step's ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from core.model import Channel


class RunState(str, Enum):
    WAITING = "waiting"  # at a step, due at ``due_at``
    DONE = "done"  # went through every step
    EXITED = "exited"  # its exit goal was reached (an order, the cart emptied...)
    CANCELLED = "cancelled"  # no longer relevant (flow switched off, superseded, data changed)


class TriggerKind(str, Enum):
    """How runs of a flow start. The engine knows the generic kinds; ``SHOP`` runs are followed by
    their flow's own module (``core.flows.library``), which starts them and says when they end."""

    EVENT = "event"  # an event (Event API name), optionally matching properties
    SEGMENT = "segment"  # the contact entered a segment (``segment_entered``)
    DATE = "date"  # a date property of the contact (birthday), yearly
    SHOP = "shop"  # a fact of the shop (a cart, a paid order, a repurchase due) its flow module follows


class Reentry(str, Enum):
    PER_OBJECT = "once_per_object"  # one run per trigger object (cart, order, event)
    ONCE = "once"  # one run per contact, ever
    YEARLY = "once_a_year"  # one run per contact and calendar year
    EVERY_DAYS = "every_days"  # a new run only N days after the last one started


@dataclass(frozen=True)
class EventMatch:
    """An event name, and property values it must carry (all of them)."""

    name: str
    where: tuple[tuple[str, Any], ...] = ()

    def matches(self, name: str | None, properties: Mapping[str, Any]) -> bool:
        return name == self.name and all(properties.get(key) == value for key, value in self.where)


@dataclass(frozen=True)
class Trigger:
    kind: TriggerKind
    event: EventMatch | None = None
    segment: str | None = None
    at: time | None = None  # DATE: local time of day of the greeting
    fact: str | None = None  # SHOP: what the flow follows ("cart", "paid order"...), for people to read
    #: SEGMENT: the contacts already in the segment get a run too (once), not only those who enter it.
    include_existing: bool = False


@dataclass(frozen=True)
class Wait:
    """Wait ``delay``, counted from the run's anchor or from reaching the step.

    The anchor is the flow's reference time, re-read each time: the cart's last
    update, the payment, the predicted run-out, the greeting time, the trigger.
    With ``until_local`` the wait ends at the next such time of day in the
    contact's zone, at or after the delay.
    """

    delay: timedelta = timedelta(0)
    from_anchor: bool = False
    until_local: time | None = None
    id: str | None = None
    #: The wait ends early when the contact has this event after the run's trigger (an answer, a click).
    until_event: str | None = None


@dataclass(frozen=True)
class Test:
    """One thing a condition checks about the contact.

    ``kind``: ``tagged`` (name = tag), ``property`` (name = contact field or
    ``attributes.KEY``), ``event`` (name = ``EVENT.PROPERTY``: that property
    of the contact's latest such event since the run's trigger), ``did``
    (name = event happened since the run's trigger; ``value`` may list more
    names, any of which counts), ``segment`` (member of segment name),
    ``consent`` (opted in on channel name). ``op`` (property and event tests):
    ``exists`` / ``equals`` / ``in`` / ``at_most`` / ``at_least`` / ``below`` /
    ``above``. ``negate`` inverts it.
    """

    kind: str
    name: str
    op: str = "exists"
    value: Any = None
    negate: bool = False


@dataclass(frozen=True)
class Condition:
    test: Test
    then: str = "next"
    otherwise: str = "end"
    id: str | None = None


@dataclass(frozen=True)
class Send:
    """Send a message; ``number`` is the send's rank in the flow (1, 2, 3): its step number.

    ``content`` says which products it shows: ``none``, ``cart`` (the cart's
    items), ``cross_sell`` (bought together with the order), ``replenishment``
    (the product running out), ``recommendations`` (for the contact's
    purchases; for a prospect, best sellers of the categories they viewed,
    then best sellers, then new arrivals), ``viewed`` (the products the
    contact viewed since the run's trigger, then similar ones). ``expires`` is how long after its time the message is still
    worth sending (held back longer, it is dropped).
    """

    number: int
    channel: Channel
    template: str
    marketing: bool = True
    content: str = "none"
    coupon: str | None = None
    expires: timedelta | None = None
    id: str | None = None
    #: A code of its own for the contact, created in the shop (``core.coupons``); ``coupon`` is the fallback.
    unique_coupon: UniqueCoupon | None = None


@dataclass(frozen=True)
class UniqueCoupon:
    """A per-contact code: ``percent`` off (or ``amount`` off the order), valid ``days``, usable once."""

    percent: Decimal | None = None
    amount: Decimal | None = None
    days: int = 14
    #: How long the message waits for its code before it goes with the fallback code.
    wait: timedelta = timedelta(minutes=30)


#: Comparisons a property or event test may make.
COMPARISONS = ("exists", "equals", "in", "at_most", "at_least", "below", "above")


@dataclass(frozen=True)
class Action:
    """``tag`` / ``untag`` (name = tag), ``set`` (name = attribute, value), ``emit`` (name = event),
    ``notify`` (name = text for the shop owner; value = an address that wins over ``notify_email``),
    ``unsubscribe`` (name = ``email`` / ``sms`` / ``all``; value = the reason kept with the proof),
    ``suppress`` (name = ``email`` / ``sms`` / ``all``: the contact's addresses on the suppression list),
    ``webhook`` (name = URL: a signed POST about the run, delivered and retried by a job)."""

    kind: str
    name: str
    value: Any = None
    id: str | None = None


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B split: what it changes in the sends after the split (None: as written)."""

    name: str
    weight: float = 1.0
    template: str | None = None
    subject: str | None = None
    channel: Channel | None = None
    #: A wait of this variant's own right after the split (a different timing).
    delay: timedelta = timedelta(0)


@dataclass(frozen=True)
class Split:
    """An A/B test: each run is given a variant, by a hash of (tenant, flow, contact) weighted by the
    variants' weights, and the sends after the split follow it. With ``winner`` (``clicked`` or
    ``orders``), once every variant was sent to ``min_sample`` contacts and one is better than every
    other with 95 % confidence, new runs all get that one."""

    variants: tuple[Variant, ...]
    winner: str | None = None
    min_sample: int = 100
    id: str | None = None

    def variant(self, name: str | None) -> Variant | None:
        return next((v for v in self.variants if v.name == name), None)


Step = Wait | Condition | Send | Action | Split


@dataclass(frozen=True)
class Definition:
    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    exits: tuple[EventMatch, ...] = ()
    reentry: Reentry = Reentry.PER_OBJECT
    reentry_days: int = 0
    #: How old a trigger may be and still start a run (history loaded by an import).
    horizon: timedelta = timedelta(days=7)
    builtin: bool = False
    labels: tuple[tuple[str, int], ...] = field(default=())

    def index_of(self, target: str, current: int) -> int:
        """The step a condition's ``then`` / ``else`` leads to (len(steps) = end)."""
        if target == "next":
            return current + 1
        if target == "end":
            return len(self.steps)
        return dict(self.labels)[target]

    @property
    def sends(self) -> tuple[Send, ...]:
        return tuple(step for step in self.steps if isinstance(step, Send))

    @property
    def split(self) -> Split | None:
        """The flow's A/B split, if it has one (a flow has at most one)."""
        return next((step for step in self.steps if isinstance(step, Split)), None)
