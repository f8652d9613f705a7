"""What the CLI, the jobs and the console call (docs/campaigns.md): list, create, schedule, cancel, progress, dry run.

Every function takes the caller's connection (it commits nothing) and the
tenant; every query is scoped by the tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.campaigns.errors import CampaignStateError
from core.campaigns.model import Campaign, CampaignState, name_of, parse
from core.campaigns.rules import LATER, decide
from core.campaigns.sending import sync_file_campaigns
from core.campaigns.settings import check_campaign
from core.campaigns.store.campaigns import (
    CampaignRow,
    audience,
    cancel_recipients,
    excluded_among,
    get_campaign_row,
    insert_campaign,
    list_campaign_rows,
    message_counts,
    recipient_counts,
    update_campaign,
)
from core.errors import NotFoundError
from core.flows.rules import zone
from core.flows.settings import tenant_flows
from core.flows.store.facts import Batch
from core.store.tenants import Tenant


@dataclass(frozen=True)
class Progress:
    """Where a campaign is: its recipients by state and outcome, its messages by status."""

    name: str
    state: str
    audience: int
    pending: int
    done: int
    cancelled: int
    outcomes: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Planned:
    """One line of a dry run: who, where, when, and what the rules say now."""

    contact_id: int
    to: str | None
    due_at: datetime
    outcome: str
    reason: str | None
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        def iso(value: datetime) -> str:
            return value.isoformat().replace("+00:00", "Z")

        return {"contact_id": self.contact_id, "to": self.to, "due_at": iso(self.due_at), "outcome": self.outcome,
                "reason": self.reason, "at": iso(self.at)}  # fmt: skip


def list_campaigns(conn: Connection, tenant: Tenant, now: datetime) -> list[CampaignRow]:
    """Every campaign of the tenant, newest first (the tenant file's brought in first)."""
    sync_file_campaigns(conn, tenant, now)
    return list_campaign_rows(conn, tenant.id)


def get_campaign(conn: Connection, tenant: Tenant, name: str) -> CampaignRow:
    """One campaign; NotFoundError naming it otherwise."""
    row = get_campaign_row(conn, tenant.id, name)
    if row is None:
        raise NotFoundError(
            f"no campaign {name!r} in tenant {tenant.name!r}; `relance campaign list --tenant {tenant.name}` lists them"
        )
    return row


def create_campaign(conn: Connection, tenant: Tenant, raw: dict[str, Any], now: datetime) -> CampaignRow:
    """Validate ``raw`` (a campaign as the tenant file holds it, plus ``name``) and store it: ``scheduled``
    when it has ``at``, else ``draft``. Raises ConfigError naming the bad key; nothing is written then."""
    if not isinstance(raw, dict):
        raise CampaignStateError("a campaign must be a mapping with name, segment or rule, subject...")
    spec = dict(raw)
    name = name_of(spec.pop("name", None))
    campaign = parse(name, spec, name)
    check_campaign(tenant.config, campaign, name)
    state = (CampaignState.SCHEDULED if campaign.at else CampaignState.DRAFT).value
    campaign_id = insert_campaign(conn, tenant.id, name, campaign.to_dict(), state, "api",
                                  campaign.start_at(tenant.config.timezone), now)  # fmt: skip
    if campaign_id is None:
        raise CampaignStateError(f"campaign {name!r} exists already in tenant {tenant.name!r}; choose another name")
    return get_campaign(conn, tenant, name)


def schedule_campaign(conn: Connection, tenant: Tenant, name: str, at: datetime, now: datetime,
                      local_time: bool | None = None) -> CampaignRow:  # fmt: skip
    """Give a draft (or a scheduled campaign) its time: ``scheduled``. ``at`` is an instant, or with
    ``local_time`` a local date and time (naive) at each contact's zone."""
    sync_file_campaigns(conn, tenant, now)
    row = get_campaign(conn, tenant, name)
    if row.source == "file":
        raise CampaignStateError(
            f"campaign {name!r} comes from the tenant file: change its `at` there and run `relance tenant apply`"
        )
    editable = (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value)
    if row.state not in editable:
        raise CampaignStateError(
            f"campaign {name!r} is {row.state}: only a draft or a scheduled campaign can be scheduled"
        )
    spec = dict(row.spec)
    local = spec.get("local_time", False) if local_time is None else local_time
    if local and at.tzinfo is not None:
        at = at.replace(tzinfo=None)
    spec["at"] = at.isoformat()
    spec["local_time"] = bool(local)
    campaign = parse(name, spec, name)
    update_campaign(conn, tenant.id, row.id, now, editable, spec=campaign.to_dict(), state=CampaignState.SCHEDULED.value,
                    start_at=campaign.start_at(tenant.config.timezone))  # fmt: skip
    return get_campaign(conn, tenant, name)


def cancel_campaign(conn: Connection, tenant: Tenant, name: str, now: datetime) -> CampaignRow:
    """Cancel a campaign before or while it sends: recipients not yet handled and messages not yet on their
    way are dropped (reason ``cancelled``). A campaign done or cancelled already is refused."""
    sync_file_campaigns(conn, tenant, now)
    row = get_campaign(conn, tenant, name)
    live = (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value, CampaignState.SENDING.value)
    locked = get_campaign_row(conn, tenant.id, name, lock=True)
    if locked is None or locked.state not in live:
        raise CampaignStateError(f"campaign {name!r} is {row.state}: there is nothing left to cancel")
    update_campaign(conn, tenant.id, row.id, now, live, state=CampaignState.CANCELLED.value, cancelled_at=now)
    cancel_recipients(conn, tenant.id, row.id, row.campaign.flow, now)
    return get_campaign(conn, tenant, name)


def campaign_progress(conn: Connection, tenant: Tenant, name: str) -> Progress:
    """Counts: the audience, recipients pending / done / cancelled, outcomes, messages by status."""
    row = get_campaign(conn, tenant, name)
    counts = recipient_counts(conn, tenant.id, row.id)
    messages = message_counts(conn, tenant.id, row.campaign.flow)
    states = ("pending", "done", "cancelled")
    return Progress(
        name=row.name,
        state=row.state,
        audience=sum(counts[s] for s in states),
        pending=counts["pending"],
        done=counts["done"],
        cancelled=counts["cancelled"],
        outcomes={k: v for k, v in sorted(counts.items()) if k not in states},
        messages=dict(sorted(messages.items())),
    )


def dry_run(conn: Connection, tenant: Tenant, name: str, now: datetime) -> list[Planned]:
    """Who would get the campaign, where and when, and what the rules say for each at that time, as things
    stand now (their consent, their recent messages). Nothing is written."""
    sync_file_campaigns(conn, tenant, now)
    row = get_campaign(conn, tenant, name)
    return plan(conn, tenant, row.campaign, now)


def plan(conn: Connection, tenant: Tenant, campaign: Campaign, now: datetime) -> list[Planned]:
    """The dry run of a campaign value (see ``dry_run``)."""
    members = audience(conn, tenant, campaign, now)
    ids = [contact_id for contact_id, _ in members]
    flows = tenant_flows(tenant.config.flows)
    out: list[Planned] = []
    tenant_tz = tenant.config.timezone
    for start in range(0, len(ids), 2000):
        chunk = members[start : start + 2000]
        chunk_ids = ids[start : start + 2000]
        batch = Batch(conn, tenant, flows, now)
        contacts = batch.load_contacts(chunk_ids)
        excluded = excluded_among(conn, tenant.id, campaign.exclude, chunk_ids)
        for contact_id, tz in chunk:
            due = campaign.due_for(zone(tz, tenant_tz), tenant_tz) if campaign.at is not None else now
            when = max(due, now)
            contact = contacts.get(contact_id)
            ledger = batch.ledger(contact) if contact is not None else None
            decision = decide(campaign, contact, ledger, flows.settings, when, due, contact_id in excluded)
            address = None
            if contact is not None:
                address = contact.email if campaign.channel.value == "email" else contact.phone
            outcome = "scheduled" if decision.status == LATER else decision.status
            at = decision.when if decision.status == LATER else when
            out.append(Planned(contact_id, address, due, outcome, decision.reason, at))
    out.sort(key=lambda p: (p.at, p.contact_id))
    return out
