"""Per-variant results of a flow's A/B test, for its automatic winner."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from core.attribution.store.schema import order_attributions
from core.reports.store.aggregates import CLICKS, RECORDED_BY, SENT
from core.store.schema import events, messages


def variant_results(conn: Connection, tenant_id: int, flow: str) -> dict[str, tuple[int, int, int]]:
    """Variant -> (messages sent, messages clicked, orders credited that bring money) of the flow."""
    clicked = (
        select(events.c.properties["message_id"].as_integer().label("mid"))
        .where(events.c.tenant_id == tenant_id, events.c.name.in_(CLICKS), events.c.source == RECORDED_BY)
        .distinct()
        .subquery()
    )
    rows = conn.execute(
        select(messages.c.variant, func.count(), func.count(clicked.c.mid))
        .select_from(messages.outerjoin(clicked, clicked.c.mid == messages.c.id))
        .where(
            messages.c.tenant_id == tenant_id,
            messages.c.flow == flow,
            messages.c.campaign.is_(None),
            messages.c.variant.is_not(None),
            messages.c.status.in_(SENT),
        )
        .group_by(messages.c.variant)
    )
    found = {variant: (int(sent), int(clicks), 0) for variant, sent, clicks in rows}
    credit = order_attributions.c
    for variant, orders in conn.execute(
        select(credit.variant, func.count())
        .where(
            credit.tenant_id == tenant_id,
            credit.flow == flow,
            credit.campaign.is_(None),
            credit.variant.is_not(None),
            credit.amount > 0,
        )
        .group_by(credit.variant)
    ):
        sent, clicks, _ = found.get(variant, (0, 0, 0))
        found[variant] = (sent, clicks, int(orders))
    return found
