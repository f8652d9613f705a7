"""The lead score in SQL: every contact's score from their events, decayed (``core.scoring`` has the rules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, Integer, Select, and_, bindparam, case, func, literal, select

from core.scoring import ScoringSettings
from core.segments.store.dialect import days_between, log2, power2
from core.store.schema import events
from core.store.types import UTCDateTime


def score_query(dialect: str, settings: ScoringSettings, scoped: bool = False) -> Select[Any]:
    """SELECT contact_id, score_log2 for every contact of a tenant with a positive score.

    Parameters: ``tenant_id``, ``score_params`` (and ``contact_id`` when scoped).
    """
    scored = settings.scored
    if scored:
        points: Any = case({name: settings.points[name] for name in scored}, value=events.c.name, else_=0.0)
    else:
        points = literal(0.0)
    now = bindparam("score_now", type_=UTCDateTime)
    weight = power2(dialect, days_between(dialect, now, events.c.occurred_at) / settings.half_life_days)
    total = func.sum(points * weight)
    conds = [
        events.c.tenant_id == bindparam("tenant_id", type_=Integer),
        events.c.name.in_(scored),
        events.c.occurred_at >= bindparam("score_since", type_=UTCDateTime),
        events.c.contact_id.is_not(None),
    ]
    if scoped:
        conds.append(events.c.contact_id == bindparam("contact_id", type_=Integer))
    offset = bindparam("score_offset", type_=Float)
    return (
        select(events.c.contact_id, (log2(dialect, total) + offset).label("score_log2"))
        .where(and_(*conds))
        .group_by(events.c.contact_id)
        .having(total > 0)
    )
