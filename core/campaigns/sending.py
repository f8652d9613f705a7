"""Starting a campaign (fixing its audience) and sending it in batches, through the flows' outbox.

``run_due(conn, tenant, now)`` is what the periodic job and the simulation
call, one transaction at a time: it brings the tenant file's campaigns into
the store, starts the campaigns whose time has come, and handles one batch of
due recipients per sending campaign. A batch claims its recipients, decides
each (``core.campaigns.rules``), writes the messages with the flows' outbox
(``core.flows.store.outbox``: key ``campaign:<id>:<contact>``, so a batch run
twice writes each message once) and settles the recipients, all in the
caller's transaction. The send job (``jobs.send``) sends the messages like
any flow's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from core.campaigns.model import Campaign, CampaignState
from core.campaigns.rules import DROPPED, LATER, SCHEDULED, address_of, decide, rank
from core.campaigns.settings import campaigns_of
from core.campaigns.store.campaigns import (
    DONE,
    CampaignRow,
    add_recipients,
    audience,
    campaigns_in,
    claim_recipients,
    excluded_among,
    get_campaign_row,
    handed_times,
    insert_campaign,
    list_campaign_rows,
    messages_by_key,
    next_pending_due,
    next_start,
    settle_recipients,
    update_campaign,
)
from core.flows.config import FlowSettings
from core.flows.rules import Entry, Ledger, zone
from core.flows.settings import tenant_flows
from core.flows.store.facts import Batch
from core.flows.store.outbox import Outbox, Planned
from core.holdouts import HOLDOUT, held_out
from core.store.tenants import Tenant

#: Recipients per batch (one transaction).
BATCH_SIZE = 500
HOUR = timedelta(hours=1)
UNTHROTTLED = 1 << 30


@dataclass
class CampaignReport:
    """What one pass did: campaigns started and finished, recipients handled, messages to hand to sending."""

    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    claimed: int = 0
    sends: list[tuple[int, datetime]] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    #: a batch was full: more recipients are due now
    more: bool = False


# -- the tenant file's campaigns ------------------------------------------------------------


def sync_file_campaigns(conn: Connection, tenant: Tenant, now: datetime) -> None:
    """Bring the tenant file's ``campaigns`` into the store: new ones added, drafts and scheduled ones
    updated to the file, those removed from the file cancelled if not started. A campaign that started
    is never changed by the file."""
    wanted = campaigns_of(tenant.config.campaigns)
    rows = {row.name: row for row in list_campaign_rows(conn, tenant.id)}
    editable = (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value)
    for campaign in wanted:
        spec = campaign.to_dict()
        state = (CampaignState.SCHEDULED if campaign.at else CampaignState.DRAFT).value
        start = campaign.start_at(tenant.config.timezone)
        row = rows.get(campaign.name)
        if row is None:
            insert_campaign(conn, tenant.id, campaign.name, spec, state, "file", start, now)
        elif row.source == "file" and row.state in editable and dict(row.spec) != spec:
            update_campaign(conn, tenant.id, row.id, now, editable, spec=spec, state=state, start_at=start)
    names = {campaign.name for campaign in wanted}
    for name, row in rows.items():
        if row.source == "file" and name not in names and row.state in editable:
            update_campaign(conn, tenant.id, row.id, now, editable, state=CampaignState.CANCELLED.value,
                            cancelled_at=now)  # fmt: skip


# -- starting -------------------------------------------------------------------------------


def start_campaign(conn: Connection, tenant: Tenant, row: CampaignRow, now: datetime) -> int:
    """Fix the audience (one recipient each, due at the campaign's time, or at it in their zone); return its size."""
    campaign = row.campaign
    if not update_campaign(conn, tenant.id, row.id, now, [CampaignState.SCHEDULED.value],
                           state=CampaignState.SENDING.value, started_at=now):  # fmt: skip
        return 0
    members = audience(conn, tenant, campaign, now)
    tenant_tz = tenant.config.timezone
    due = [(contact_id, campaign.due_for(zone(tz, tenant_tz), tenant_tz)) for contact_id, tz in members]
    add_recipients(conn, tenant.id, row.id, due, now)
    if not due:
        update_campaign(conn, tenant.id, row.id, now, state=CampaignState.DONE.value, finished_at=now)
    return len(due)


# -- sending --------------------------------------------------------------------------------


def throttle_free_at(conn: Connection, tenant_id: int, campaign: Campaign, now: datetime) -> tuple[int, datetime]:
    """How many more messages the hourly throttle lets go now, and when the next one may go if none."""
    if campaign.per_hour is None:
        return UNTHROTTLED, now
    times = handed_times(conn, tenant_id, campaign.flow, now - HOUR)
    left = campaign.per_hour - len(times)
    if left > 0:
        return left, now
    return 0, times[len(times) - campaign.per_hour] + HOUR


def _bump(outbox: Outbox, ledger: Ledger, entry: Entry, settings: FlowSettings, now: datetime) -> None:
    """Move a lower-priority flow message out of the slot the campaign takes (as the flows' engine does)."""
    ledger.remove(entry)
    slot = ledger.find_slot(entry.when, entry.rank, now, settings.pressure, settings.quiet_hours, False)
    if slot is None or (entry.expires_at is not None and slot.when > entry.expires_at):
        status, due = DROPPED, entry.when
    else:
        status, due = SCHEDULED, slot.when
        ledger.add(Entry(due, entry.rank, entry.message_id, True, entry.expires_at, entry.flow))
    if entry.message_id is not None:
        outbox.move(entry.message_id, status, due, "pressure")


def _key(row: CampaignRow, contact_id: int) -> str:
    """The outbox key of a recipient's message: one message per campaign and contact, ever."""
    return f"campaign:{row.id}:{contact_id}"


def send_batch(conn: Connection, tenant: Tenant, row: CampaignRow, now: datetime,
               limit: int | None = None) -> CampaignReport:  # fmt: skip
    """Handle one batch of the campaign's due recipients (see the module docstring)."""
    report = CampaignReport()
    campaign = row.campaign
    allowed, _ = throttle_free_at(conn, tenant.id, campaign, now)
    take = min(limit or BATCH_SIZE, allowed)
    claimed = claim_recipients(conn, tenant.id, row.id, now, take)
    report.claimed = len(claimed)
    report.more = take > 0 and len(claimed) == take
    if claimed:
        flows = tenant_flows(tenant.config.flows)
        settings = flows.settings
        batch = Batch(conn, tenant, flows, now)
        ids = [r.contact_id for r in claimed]
        contacts = batch.load_contacts(ids)
        excluded = excluded_among(conn, tenant.id, campaign.exclude, ids)
        outbox = Outbox(conn, tenant.id, now)
        position = rank(campaign, settings)
        planned: dict[int, Planned] = {}
        changes: list[dict[str, Any]] = []
        context = campaign.context()
        written = messages_by_key(conn, tenant.id, [_key(row, r.contact_id) for r in claimed])
        for recipient in claimed:
            found = written.get(_key(row, recipient.contact_id))
            if found is not None:  # its message was written by a batch whose settling was lost
                changes.append({"contact_id": recipient.contact_id, "state": DONE, "outcome": found.status,
                                "reason": found.reason, "message_id": found.id})  # fmt: skip
                report.outcomes["already_written"] += 1
                continue
            contact = contacts.get(recipient.contact_id)
            ledger = batch.ledger(contact) if contact is not None else None
            decision = decide(campaign, contact, ledger, settings, now, recipient.first_due_at,
                              recipient.contact_id in excluded)  # fmt: skip
            report.outcomes[f"{decision.status}:{decision.reason}" if decision.reason else decision.status] += 1
            if decision.status == LATER:
                changes.append({"contact_id": recipient.contact_id, "due_at": decision.when, "reason": decision.reason})
                continue
            changes.append({"contact_id": recipient.contact_id, "state": DONE, "outcome": decision.status,
                            "reason": decision.reason})  # fmt: skip
            if contact is None:
                continue
            status, reason = decision.status, decision.reason
            held = status == SCHEDULED and held_out(tenant.id, campaign.flow, contact.id, campaign.holdout_percent)
            if held:  # recorded for the report, never sent, counted against no cap
                status, reason = HOLDOUT, HOLDOUT
                changes[-1].update(outcome=status, reason=None)
            message = Planned(
                contact_id=contact.id,
                flow=campaign.flow,
                run_id=None,
                step=1,
                channel=campaign.channel.value,
                marketing=True,
                template=campaign.template,
                context=dict(context),
                dedupe_key=_key(row, contact.id),
                status=status,
                reason=reason,
                due_at=now,
                to_address=address_of(campaign, contact),
                campaign=campaign.name,
            )
            planned[contact.id] = outbox.add(message)
            if status == SCHEDULED and ledger is not None:
                ledger.add(Entry(now, position, None, False, None, campaign.flow, ref=message))  # type: ignore[arg-type]
                for entry in decision.slot.bumped if decision.slot else ():
                    _bump(outbox, ledger, entry, settings, now)
        report.sends = outbox.flush()
        for change in changes:
            message = planned.get(change["contact_id"])
            if message is not None and "message_id" not in change:
                change["message_id"] = message.id
        settle_recipients(conn, row.id, changes, now)
    if next_pending_due(conn, row.id) is None:
        update_campaign(conn, tenant.id, row.id, now, [CampaignState.SENDING.value], state=CampaignState.DONE.value,
                        finished_at=now)  # fmt: skip
        report.finished.append(row.name)
    return report


def run_due(conn: Connection, tenant: Tenant, now: datetime, limit: int | None = None) -> CampaignReport:
    """One pass for a tenant: sync the file's campaigns, start the due ones, one batch per sending campaign."""
    report = CampaignReport()
    sync_file_campaigns(conn, tenant, now)
    for _, name in campaigns_in(conn, [CampaignState.SCHEDULED.value], tenant.id, starting_by=now):
        row = get_campaign_row(conn, tenant.id, name, lock=True)
        if row is not None and row.state == CampaignState.SCHEDULED.value:
            report.outcomes["recipients"] += start_campaign(conn, tenant, row, now)
            report.started.append(name)
    for _, name in campaigns_in(conn, [CampaignState.SENDING.value], tenant.id):
        # locked: one batch of a campaign at a time (the throttle counts what the previous ones handed over),
        # and a cancel waits for the batch under way
        row = get_campaign_row(conn, tenant.id, name, lock=True)
        if row is None or row.state != CampaignState.SENDING.value:
            continue
        done = send_batch(conn, tenant, row, now, limit)
        report.claimed += done.claimed
        report.sends.extend(done.sends)
        report.outcomes.update(done.outcomes)
        report.finished.extend(done.finished)
        report.more = report.more or done.more
    return report


def next_due(conn: Connection, tenant: Tenant, now: datetime) -> datetime | None:
    """When the tenant's campaigns next have something to do (a start, a recipient due, the throttle freeing)."""
    found = [next_start(conn, tenant.id, CampaignState.SCHEDULED.value)]
    for _, name in campaigns_in(conn, [CampaignState.SENDING.value], tenant.id):
        row = get_campaign_row(conn, tenant.id, name)
        if row is None:
            continue
        due = next_pending_due(conn, row.id)
        if due is None:
            found.append(now)  # to be marked done
            continue
        left, free_at = throttle_free_at(conn, tenant.id, row.campaign, max(due, now))
        found.append(max(due, free_at) if left <= 0 else due)
    return min((t for t in found if t is not None), default=None)
