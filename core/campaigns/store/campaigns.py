"""Campaigns and their recipients in the store. Every function is scoped by tenant.

Recipients are claimed in batches inside the transaction that settles them
(on PostgreSQL ``FOR UPDATE SKIP LOCKED``: two workers take different rows;
on SQLite the write lock is taken first), so a batch is done whole or not at
all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, exists, func, literal, not_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.campaigns.model import Campaign, from_stored
from core.campaigns.store.schema import campaign_recipients, campaigns
from core.flows.store.sql import among
from core.scoring import scoring_settings
from core.segments.settings import segment_settings
from core.segments.store.builtin import known_contact
from core.segments.store.compiler import Context, compile_rule
from core.segments.store.schema import segment_members
from core.store.schema import contacts, messages
from core.store.tenants import Tenant

PENDING, DONE, CANCELLED = "pending", "done", "cancelled"
#: Message statuses that count against a campaign's hourly throttle (it was handed to sending).
THROTTLED = ("scheduled", "sending", "sent", "failed", "bounced", "suppressed")


@dataclass(frozen=True)
class CampaignRow:
    id: int
    tenant_id: int
    name: str
    spec: Mapping[str, Any]
    state: str
    source: str
    start_at: datetime | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    cancelled_at: datetime | None

    @property
    def campaign(self) -> Campaign:
        return from_stored(self.name, self.spec)

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat().replace("+00:00", "Z")

        return {
            "name": self.name,
            "state": self.state,
            "source": self.source,
            "start_at": iso(self.start_at),
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "cancelled_at": iso(self.cancelled_at),
            "spec": dict(self.spec),
        }


def _row(row: Any) -> CampaignRow:
    return CampaignRow(**{name: getattr(row, name) for name in CampaignRow.__dataclass_fields__})


def get_campaign_row(conn: Connection, tenant_id: int, name: str, lock: bool = False) -> CampaignRow | None:
    query = select(campaigns).where(campaigns.c.tenant_id == tenant_id, campaigns.c.name == name)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return None if row is None else _row(row)


def list_campaign_rows(conn: Connection, tenant_id: int) -> list[CampaignRow]:
    rows = conn.execute(
        select(campaigns)
        .where(campaigns.c.tenant_id == tenant_id)
        .order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc())  # fmt: skip
    )
    return [_row(row) for row in rows]


def insert_campaign(
    conn: Connection,
    tenant_id: int,
    name: str,
    spec: Mapping[str, Any],
    state: str,
    source: str,
    start_at: datetime | None,
    now: datetime,
) -> int | None:
    """Store a new campaign; None when the tenant has one of that name already."""
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(campaigns)
    return conn.execute(
        stmt.values(
            tenant_id=tenant_id,
            name=name,
            spec=dict(spec),
            state=state,
            source=source,
            start_at=start_at,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "name"])
        .returning(campaigns.c.id)
    ).scalar()


def update_campaign(
    conn: Connection,
    tenant_id: int,
    campaign_id: int,
    now: datetime,
    states: Sequence[str] | None = None,
    **values: Any,
) -> bool:
    """Change a campaign (only while in one of ``states``, when given); True when it changed."""
    where = [campaigns.c.tenant_id == tenant_id, campaigns.c.id == campaign_id]
    if states is not None:
        where.append(campaigns.c.state.in_(list(states)))
    done = conn.execute(update(campaigns).where(*where).values(updated_at=now, **values).returning(campaigns.c.id))
    return done.first() is not None


def campaigns_in(conn: Connection, states: Sequence[str], tenant_id: int | None = None,
                 starting_by: datetime | None = None) -> list[tuple[int, str]]:  # fmt: skip
    """(tenant id, name) of the campaigns in ``states`` (``starting_by``: whose start time has come)."""
    query = select(campaigns.c.tenant_id, campaigns.c.name).where(campaigns.c.state.in_(list(states)))
    if tenant_id is not None:
        query = query.where(campaigns.c.tenant_id == tenant_id)
    if starting_by is not None:
        query = query.where(campaigns.c.start_at <= starting_by)
    return [(row.tenant_id, row.name) for row in conn.execute(query.order_by(campaigns.c.tenant_id, campaigns.c.id))]


def next_start(conn: Connection, tenant_id: int, state: str) -> datetime | None:
    return conn.execute(
        select(func.min(campaigns.c.start_at)).where(campaigns.c.tenant_id == tenant_id, campaigns.c.state == state)
    ).scalar()


# -- the audience ---------------------------------------------------------------------------


def _member_of(tenant_id: int, segment: str) -> Any:
    return exists(
        select(literal(1)).where(
            segment_members.c.tenant_id == tenant_id,
            segment_members.c.segment == segment,
            segment_members.c.contact_id == contacts.c.id,
        )
    )


def audience(conn: Connection, tenant: Tenant, campaign: Campaign, now: datetime) -> list[tuple[int, str | None]]:
    """(contact id, time zone) of everyone the campaign goes to now: known contacts in its segment or
    matching its rule, and in none of its exclusion segments."""
    where: list[Any] = [contacts.c.tenant_id == tenant.id, known_contact()]
    if campaign.segment:
        where.append(_member_of(tenant.id, campaign.segment))
    if campaign.rule is not None:
        segments, scoring = segment_settings(tenant.config.segments), scoring_settings(tenant.config.scoring)
        context = Context(
            tenant_id=tenant.id,
            now=now,
            dialect=conn.dialect.name,
            timezone=tenant.config.timezone,
            abandoned_cart_minutes=segments.thresholds.abandoned_cart_minutes,
            half_life_days=scoring.half_life_days,
        )
        where.append(compile_rule(campaign.rule, context))
    for segment in campaign.exclude:
        where.append(not_(_member_of(tenant.id, segment)))
    rows = conn.execute(select(contacts.c.id, contacts.c.timezone).where(and_(*where)).order_by(contacts.c.id))
    return [(row.id, row.timezone) for row in rows]


def excluded_among(conn: Connection, tenant_id: int, segments: Sequence[str], contact_ids: Sequence[int]) -> set[int]:
    """The contacts among ``contact_ids`` who are in one of ``segments`` now."""
    if not segments or not contact_ids:
        return set()
    rows = conn.execute(
        select(segment_members.c.contact_id).where(
            segment_members.c.tenant_id == tenant_id,
            segment_members.c.segment.in_(list(segments)),
            among(conn, segment_members.c.contact_id, list(contact_ids)),
        )
    ).scalars()
    return set(rows)


# -- recipients -----------------------------------------------------------------------------


def add_recipients(
    conn: Connection, tenant_id: int, campaign_id: int, due: Sequence[tuple[int, datetime]], now: datetime
) -> int:
    """Add (contact id, due time) recipients, ignoring those already there; return how many were given."""
    stmt = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(campaign_recipients)
    stmt = stmt.on_conflict_do_nothing(index_elements=["campaign_id", "contact_id"])
    for start in range(0, len(due), 2000):
        conn.execute(
            stmt,
            [
                {
                    "campaign_id": campaign_id,
                    "tenant_id": tenant_id,
                    "contact_id": contact_id,
                    "state": PENDING,
                    "due_at": when,
                    "first_due_at": when,
                    "updated_at": now,
                }
                for contact_id, when in due[start : start + 2000]
            ],
        )
    return len(due)


def claim_recipients(conn: Connection, tenant_id: int, campaign_id: int, now: datetime, limit: int) -> list[Any]:
    """Lock and return up to ``limit`` pending recipients whose time has come, earliest first."""
    if limit <= 0:
        return []
    if conn.dialect.name == "sqlite":
        # take SQLite's write lock first: what is read next cannot change under us
        conn.execute(
            update(campaigns)
            .where(campaigns.c.tenant_id == tenant_id, campaigns.c.id == campaign_id)
            .values(updated_at=campaigns.c.updated_at)
        )
    query = (
        select(campaign_recipients)
        .where(
            campaign_recipients.c.tenant_id == tenant_id,
            campaign_recipients.c.campaign_id == campaign_id,
            campaign_recipients.c.state == PENDING,
            campaign_recipients.c.due_at <= now,
        )
        .order_by(campaign_recipients.c.due_at, campaign_recipients.c.contact_id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def settle_recipients(conn: Connection, campaign_id: int, changes: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """Write what became of claimed recipients (``contact_id`` with ``state``, ``due_at``, ``outcome``...)."""
    for change in changes:
        values = {key: value for key, value in change.items() if key != "contact_id"}
        conn.execute(
            update(campaign_recipients)
            .where(
                campaign_recipients.c.campaign_id == campaign_id,
                campaign_recipients.c.contact_id == change["contact_id"],
            )
            .values(updated_at=now, **values)
        )


def messages_by_key(conn: Connection, tenant_id: int, keys: Sequence[str]) -> dict[str, Any]:
    """The outbox rows (id, status, reason) of these dedupe keys that exist already."""
    if not keys:
        return {}
    rows = conn.execute(
        select(messages.c.id, messages.c.dedupe_key, messages.c.status, messages.c.reason).where(
            messages.c.tenant_id == tenant_id, among(conn, messages.c.dedupe_key, list(keys))
        )
    )
    return {row.dedupe_key: row for row in rows}


def next_pending_due(conn: Connection, campaign_id: int) -> datetime | None:
    return conn.execute(
        select(func.min(campaign_recipients.c.due_at)).where(
            campaign_recipients.c.campaign_id == campaign_id, campaign_recipients.c.state == PENDING
        )
    ).scalar()


def cancel_recipients(conn: Connection, tenant_id: int, campaign_id: int, flow: str, now: datetime) -> tuple[int, int]:
    """Cancel the pending recipients and drop the campaign's messages not yet on their way; return both counts."""
    pending = conn.execute(
        update(campaign_recipients)
        .where(
            campaign_recipients.c.tenant_id == tenant_id,
            campaign_recipients.c.campaign_id == campaign_id,
            campaign_recipients.c.state == PENDING,
        )
        .values(state=CANCELLED, reason="cancelled", updated_at=now)
    ).rowcount
    dropped = conn.execute(
        update(messages)
        .where(messages.c.tenant_id == tenant_id, messages.c.flow == flow, messages.c.status.in_(["scheduled", "held"]))
        .values(status="dropped", reason="cancelled", updated_at=now)
    ).rowcount
    return pending, dropped


def handed_since(conn: Connection, tenant_id: int, flow: str, since: datetime) -> tuple[int, datetime | None]:
    """How many of the campaign's messages were handed to sending after ``since``, and the earliest such time."""
    row = conn.execute(
        select(func.count(), func.min(messages.c.created_at)).where(
            messages.c.tenant_id == tenant_id,
            messages.c.flow == flow,
            messages.c.status.in_(THROTTLED),
            messages.c.created_at > since,
        )
    ).first()
    return (int(row[0]), row[1]) if row is not None else (0, None)


def handed_times(conn: Connection, tenant_id: int, flow: str, since: datetime) -> list[datetime]:
    """When each of the campaign's messages handed to sending after ``since`` was, oldest first."""
    return list(
        conn.execute(
            select(messages.c.created_at)
            .where(
                messages.c.tenant_id == tenant_id,
                messages.c.flow == flow,
                messages.c.status.in_(THROTTLED),
                messages.c.created_at > since,
            )
            .order_by(messages.c.created_at)
        ).scalars()
    )


def recipient_counts(conn: Connection, tenant_id: int, campaign_id: int) -> Counter[str]:
    """Recipients by ``state``, and those done by ``outcome:reason`` (``scheduled``, ``dropped:consent``...)."""
    counts: Counter[str] = Counter()
    rows = conn.execute(
        select(
            campaign_recipients.c.state,
            campaign_recipients.c.outcome,
            campaign_recipients.c.reason,
            func.count(),
        )
        .where(campaign_recipients.c.tenant_id == tenant_id, campaign_recipients.c.campaign_id == campaign_id)
        .group_by(campaign_recipients.c.state, campaign_recipients.c.outcome, campaign_recipients.c.reason)
    )
    for state, outcome, reason, count in rows:
        counts[state] += count
        if state == DONE and (outcome or reason):
            counts[":".join(part for part in (outcome, reason) if part)] += count
    return counts


def message_counts(conn: Connection, tenant_id: int, flow: str) -> Counter[str]:
    """The campaign's messages by status."""
    rows = conn.execute(
        select(messages.c.status, func.count())
        .where(messages.c.tenant_id == tenant_id, messages.c.flow == flow)
        .group_by(messages.c.status)
    )
    return Counter({status: count for status, count in rows})


def recipients_of(conn: Connection, tenant_id: int, campaign_id: int) -> list[Any]:
    """Every recipient row of a campaign (tests, the console's detail view)."""
    return list(
        conn.execute(
            select(campaign_recipients)
            .where(campaign_recipients.c.tenant_id == tenant_id, campaign_recipients.c.campaign_id == campaign_id)
            .order_by(campaign_recipients.c.contact_id)
        )
    )
