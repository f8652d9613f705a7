"""The four built-in flows, built from a tenant's settings.

- ``abandoned_cart``: a cart with items and a known contact and no order: a
  message after each delay (1 h, 24 h, 72 h by default) counted from the
  cart's last update; the last can carry a coupon. One run per cart.
- ``birthday``: at 09:00 in the contact's zone on their birthday (28 February
  for people born on 29 February in other years), once a year.
- ``cross_sell``: 7 days after an order becomes paid or completed, up to 4
  products bought together with it. One run per order.
- ``replenishment``: ``days_before`` (5) days before the predicted run-out of
  a product bought again and again. One run per order and product; a new
  order of the product replaces it.
"""

from __future__ import annotations

from datetime import timedelta

from core.flows.model import Definition, FlowName, Reentry, Send, Trigger, TriggerKind, Wait
from core.flows.settings import FlowSettings


def abandoned_cart(settings: FlowSettings) -> Definition:
    config = settings.abandoned_cart
    delays = [timedelta(hours=h) for h in config.delays_hours]
    steps: list[Wait | Send] = []
    last_expiry = timedelta(days=2)
    for index, delay in enumerate(delays):
        last = index == len(delays) - 1
        steps.append(Wait(delay=delay, from_anchor=True))
        steps.append(
            Send(
                number=index + 1,
                channel=config.channel,
                template=f"{FlowName.ABANDONED_CART.value}/{index + 1}",
                content="cart",
                coupon=config.coupon if last else None,
                # a step held back is still worth sending until the next one is due
                expires=last_expiry if last else delays[index + 1] - delay,
            )
        )
    return Definition(
        name=FlowName.ABANDONED_CART.value,
        trigger=Trigger(TriggerKind.CART),
        steps=tuple(steps),
        reentry=Reentry.PER_OBJECT,
        horizon=delays[-1] + last_expiry,
        builtin=True,
    )


def birthday(settings: FlowSettings) -> Definition:
    config = settings.birthday
    rest_of_day = timedelta(hours=24) - timedelta(hours=config.at.hour, minutes=config.at.minute)
    return Definition(
        name=FlowName.BIRTHDAY.value,
        trigger=Trigger(TriggerKind.DATE, at=config.at),
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=config.channel,
                template=f"{FlowName.BIRTHDAY.value}/1",
                coupon=config.coupon,
                expires=rest_of_day,  # a birthday message goes on the day or not at all
            ),
        ),
        reentry=Reentry.YEARLY,
        horizon=rest_of_day,
        builtin=True,
    )


def cross_sell(settings: FlowSettings) -> Definition:
    config = settings.cross_sell
    return Definition(
        name=FlowName.CROSS_SELL.value,
        trigger=Trigger(TriggerKind.PAID_ORDER),
        steps=(
            Wait(delay=timedelta(days=config.after_days), from_anchor=True),
            Send(
                number=1,
                channel=config.channel,
                template=f"{FlowName.CROSS_SELL.value}/1",
                content="cross_sell",
                expires=timedelta(days=7),
            ),
        ),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=config.after_days + 7),
        builtin=True,
    )


def replenishment(settings: FlowSettings) -> Definition:
    config = settings.replenishment
    return Definition(
        name=FlowName.REPLENISHMENT.value,
        trigger=Trigger(TriggerKind.REPLENISHMENT),
        # the anchor is the reminder time: last purchase + interval - days_before
        steps=(
            Wait(from_anchor=True),
            Send(
                number=1,
                channel=config.channel,
                template=f"{FlowName.REPLENISHMENT.value}/1",
                content="replenishment",
                expires=timedelta(days=max(config.days_before, 1)),  # until the predicted run-out
            ),
        ),
        reentry=Reentry.PER_OBJECT,
        horizon=timedelta(days=max(config.days_before, 1)),
        builtin=True,
    )


def definitions(settings: FlowSettings) -> tuple[Definition, ...]:
    """Every flow switched on for a tenant: the built-in ones, then the tenant's own."""
    built: list[Definition] = []
    if settings.abandoned_cart.enabled:
        built.append(abandoned_cart(settings))
    if settings.birthday.enabled:
        built.append(birthday(settings))
    if settings.cross_sell.enabled:
        built.append(cross_sell(settings))
    if settings.replenishment.enabled:
        built.append(replenishment(settings))
    return (*built, *settings.custom)
