"""What becomes of one recipient now: the flows' rules (consent, quiet hours, pressure) applied to a campaign.

Pure: the sending batch and the dry run load the values and act on the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.campaigns.model import Campaign
from core.flows.config import FlowSettings
from core.flows.rules import Ledger, Slot, after_quiet_hours, consent_given
from core.flows.store.facts import ContactFacts
from core.model import Channel

SCHEDULED, DROPPED, LATER = "scheduled", "dropped", "later"


@dataclass(frozen=True)
class Decision:
    """``scheduled`` (goes at ``when``: now), ``dropped`` (``reason``), or ``later`` (looked at again at ``when``)."""

    status: str
    reason: str | None
    when: datetime
    slot: Slot | None = None


def rank(campaign: Campaign, settings: FlowSettings) -> float:
    """The campaign's priority rank among the flows (lower goes first): the lowest unless set."""
    if campaign.priority == "highest":
        return -1
    if campaign.priority == "lowest":
        return len(settings.priorities) + 1
    return settings.rank(campaign.priority) - 0.5


def address_of(campaign: Campaign, contact: ContactFacts) -> str | None:
    return contact.email if campaign.channel is Channel.EMAIL else contact.phone


def decide(
    campaign: Campaign,
    contact: ContactFacts | None,
    ledger: Ledger | None,
    settings: FlowSettings,
    now: datetime,
    first_due: datetime,
    excluded: bool = False,
) -> Decision:
    """The rules, in order: the contact still exists and is not excluded, has an address and consent; the
    message is not past its time (``expires_hours``); quiet hours; marketing pressure."""
    if contact is None:
        return Decision(DROPPED, "contact_gone", now)
    if excluded:
        return Decision(DROPPED, "excluded", now)
    if not address_of(campaign, contact):
        return Decision(DROPPED, "no_address", now)
    if not consent_given(campaign.channel, contact.email_consent, contact.sms_consent):
        return Decision(DROPPED, "consent", now)
    deadline = first_due + timedelta(hours=campaign.expires_hours)
    if now > deadline:
        return Decision(DROPPED, "expired", now)
    assert ledger is not None
    quiet = settings.quiet_hours
    earliest = after_quiet_hours(now, quiet, ledger.tz)
    if earliest > deadline:
        return Decision(DROPPED, "quiet_hours", now)
    allow_bump = campaign.priority != "lowest"
    slot = ledger.find_slot(now, rank(campaign, settings), now, settings.pressure, quiet, allow_bump)  # type: ignore[arg-type]
    if slot is None or slot.when > deadline:
        return Decision(DROPPED, "pressure", now)
    if slot.when > now:
        return Decision(LATER, "quiet_hours" if slot.when == earliest else "pressure", slot.when)
    return Decision(SCHEDULED, None, now, slot)
