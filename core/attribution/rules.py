"""The attribution rule, pure: last click within the click window, else last open within the open window."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.attribution.settings import Windows
from core.model import OrderStatus

CLICK = "click"
OPEN = "open"


@dataclass(frozen=True)
class Touch:
    """A click on, or an open of, one of the contact's messages."""

    kind: str  # click | open
    at: datetime
    message_id: int
    flow: str
    step: int
    campaign: str | None = None
    variant: str | None = None


def credited(order_at: datetime, touches: Iterable[Touch], windows: Windows) -> Touch | None:
    """The touch an order placed at ``order_at`` is credited to, or None.

    Touches after the order never count; between two touches at the same time
    the later message wins, so that the choice does not depend on their order.
    """
    best: dict[str, Touch] = {}
    for touch in touches:
        window = windows.click if touch.kind == CLICK else windows.open
        if not (order_at - window <= touch.at <= order_at) or not window:
            continue
        current = best.get(touch.kind)
        if current is None or (touch.at, touch.message_id) > (current.at, current.message_id):
            best[touch.kind] = touch
    return best.get(CLICK) or best.get(OPEN)


def credited_amount(status: str, total: Decimal) -> Decimal:
    """What an order brings: its total while paid or completed, nothing once refunded, cancelled or failed."""
    return total if status in (OrderStatus.PAID.value, OrderStatus.COMPLETED.value) else Decimal(0)
