"""Campaigns: one-off sends to a segment or a rule, at a time or at each contact's local time, throttled.

``model`` (what a campaign is, validated), ``settings`` (the tenant file's
``campaigns`` section), ``rules`` (the flows' consent, quiet hours and
pressure rules applied to a recipient), ``sending`` (starting a campaign and
sending it in batches through the flows' outbox), ``preview``, ``store``
(campaigns and recipients). ``api`` is what callers use; its functions are
re-exported here (docs/campaigns.md).
"""

from __future__ import annotations

from core.campaigns.api import (
    Planned,
    Progress,
    campaign_progress,
    cancel_campaign,
    create_campaign,
    dry_run,
    get_campaign,
    list_campaigns,
    schedule_campaign,
)

__all__ = [
    "Planned",
    "Progress",
    "campaign_progress",
    "cancel_campaign",
    "create_campaign",
    "dry_run",
    "get_campaign",
    "list_campaigns",
    "schedule_campaign",
]
