"""The campaigns as the simulated clock drives them (``relance simulate``, the demo): the same passes as the job."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import Connection

from core.campaigns.model import CampaignState
from core.campaigns.sending import next_due, run_due
from core.campaigns.store.campaigns import campaigns_in
from core.flows.simulation import Agenda
from core.operations import refresh_segments
from core.store.tenants import Tenant


def _run(conn: Connection, tenant: Tenant, now: datetime) -> tuple[Counter[str], bool]:
    if campaigns_in(conn, [CampaignState.SCHEDULED.value], tenant.id, starting_by=now):
        # production's hourly refresh keeps the segments current; the simulation refreshes them when an
        # audience is about to be fixed
        refresh_segments(conn, tenant, now)
    report = run_due(conn, tenant, now)
    outcomes = Counter({key: count for key, count in report.outcomes.items() if key != "recipients"})
    outcomes["campaigns_started"] += len(report.started)
    return outcomes, report.more


#: Hand this to ``core.flows.simulation.simulate`` / ``project`` to simulate the tenant's campaigns too.
CAMPAIGNS = Agenda("campaigns", next_due, _run)
