"""Segment memberships in the store: who is in which segment.

``is_member`` is what flows ask; ``apply_changes`` is the one writer, used by
the full refresh and by the incremental update.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, and_, delete, func, insert, select

from core.segments.store.schema import segment_members, segment_states
from core.store.schema import contacts


def is_member(conn: Connection, tenant_id: int, contact_id: int, segment: str) -> bool:
    """True when the contact is in the segment now (as of the last refresh or event)."""
    return (
        conn.execute(
            select(segment_members.c.contact_id).where(
                segment_members.c.tenant_id == tenant_id,
                segment_members.c.segment == segment,
                segment_members.c.contact_id == contact_id,
            )
        ).first()
        is not None
    )


def segments_of(conn: Connection, tenant_id: int, contact_id: int) -> set[str]:
    """The names of the segments the contact is in."""
    return set(
        conn.execute(
            select(segment_members.c.segment).where(
                segment_members.c.tenant_id == tenant_id, segment_members.c.contact_id == contact_id
            )
        ).scalars()
    )


def segments_by_contact(conn: Connection, tenant_id: int, contact_ids: list[int]) -> dict[int, list[str]]:
    """The sorted segment names of each contact (a batch lookup for exports)."""
    found: dict[int, list[str]] = {contact_id: [] for contact_id in contact_ids}
    if not contact_ids:
        return found
    rows = conn.execute(
        select(segment_members.c.contact_id, segment_members.c.segment)
        .where(segment_members.c.tenant_id == tenant_id, segment_members.c.contact_id.in_(contact_ids))
        .order_by(segment_members.c.contact_id, segment_members.c.segment)
    )
    for contact_id, segment in rows:
        found[contact_id].append(segment)
    return found


def member_ids(conn: Connection, tenant_id: int, segment: str) -> set[int]:
    """The ids of the contacts in the segment."""
    return set(
        conn.execute(
            select(segment_members.c.contact_id).where(
                segment_members.c.tenant_id == tenant_id, segment_members.c.segment == segment
            )
        ).scalars()
    )


def member_counts(conn: Connection, tenant_id: int) -> dict[str, int]:
    """The number of members of each segment that has any."""
    rows = conn.execute(
        select(segment_members.c.segment, func.count())
        .where(segment_members.c.tenant_id == tenant_id)
        .group_by(segment_members.c.segment)
    )
    return {segment: int(count) for segment, count in rows}


def apply_changes(
    conn: Connection,
    tenant_id: int,
    entered: Iterable[tuple[str, int]],
    exited: Iterable[tuple[str, int]],
    now: datetime,
) -> None:
    """Add the (segment, contact_id) pairs that entered and remove those that exited."""
    rows = [
        {"tenant_id": tenant_id, "segment": segment, "contact_id": contact_id, "entered_at": now}
        for segment, contact_id in entered
    ]
    if rows:
        conn.execute(insert(segment_members), rows)
    by_segment: dict[str, list[int]] = {}
    for segment, contact_id in exited:
        by_segment.setdefault(segment, []).append(contact_id)
    for segment, ids in by_segment.items():
        for start in range(0, len(ids), 500):
            conn.execute(
                delete(segment_members).where(
                    and_(
                        segment_members.c.tenant_id == tenant_id,
                        segment_members.c.segment == segment,
                        segment_members.c.contact_id.in_(ids[start : start + 500]),
                    )
                )
            )


def never_refreshed(conn: Connection, tenant_id: int) -> bool:
    """True when no segment of the tenant was ever computed (a first refresh is due)."""
    return conn.execute(select(segment_states.c.segment).where(segment_states.c.tenant_id == tenant_id)).first() is None


def member_addresses(conn: Connection, tenant_id: int, segment: str) -> list[tuple[str | None, str | None]]:
    """(email, phone) of a segment's members, ordered by email then phone."""
    rows = conn.execute(
        select(contacts.c.email, contacts.c.phone)
        .join(segment_members, segment_members.c.contact_id == contacts.c.id)
        .where(segment_members.c.tenant_id == tenant_id, segment_members.c.segment == segment)
        .order_by(contacts.c.email, contacts.c.phone)
    )
    return [(email, phone) for email, phone in rows]
