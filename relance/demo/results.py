"""The demo's results section: the sample shop's year replayed through the flows, then the report.

The year's events go through the production engine with a simulated clock on
a scratch database (``core.flows.simulation``), with 10 % holdouts on three
flows; what the sample shop cannot tell (whether a customer opens or clicks
a message) is drawn, the same every run: an email is opened within a few
hours with probability 45 %, and a link clicked in 12 % of them, 25 % when
the customer orders within the next 5 days anyway. The orders are the sample
shop's own: nothing is invented there. Attribution, the holdout comparison
and the table are Relance's real ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core.attribution.attribute import recompute
from core.events import parse_event
from core.flows.simulation import simulate
from core.messages.preferences import record_engagement
from core.model import REVENUE_STATUSES
from core.reports import build_report
from core.reports.formats import to_table
from core.sections import validate_tenant
from core.store.schema import messages, orders
from core.store.tenants import Tenant, upsert_tenant
from relance.commands.simulate import scratch_engine
from relance.demo import sampleshop
from relance.wiring import Runtime

Echo = Callable[[str], None]
HELD_OUT = ("abandoned_cart", "browse_abandonment", "win_back")
OPEN, CLICK, CLICK_BUYER = 0.45, 0.12, 0.25


def _engage(conn: Any, tenant: Tenant, seed: int) -> None:
    """Draw opens and clicks of the simulated messages (see the module's docstring)."""
    draw = random.Random(seed)
    buys: dict[int, list[Any]] = {}
    for contact_id, placed in conn.execute(
        select(orders.c.contact_id, orders.c.created_at).where(
            orders.c.tenant_id == tenant.id, orders.c.status.in_(REVENUE_STATUSES)
        )
    ):
        buys.setdefault(contact_id, []).append(placed)
    sent = conn.execute(
        select(messages.c.id, messages.c.contact_id, messages.c.flow, messages.c.step, messages.c.sent_at)
        .where(messages.c.tenant_id == tenant.id, messages.c.status == "sent", messages.c.channel == "email")
        .order_by(messages.c.id)
    ).all()
    for row in sent:
        if draw.random() >= OPEN:
            continue
        opened = row.sent_at + timedelta(minutes=draw.randint(5, 300))
        record_engagement(conn, tenant, row, "email_opened", opened)
        soon = any(opened <= t <= opened + timedelta(days=5) for t in buys.get(row.contact_id, ()))
        if draw.random() < (CLICK_BUYER if soon else CLICK):
            clicked = opened + timedelta(minutes=draw.randint(1, 30))
            record_engagement(conn, tenant, row, "email_clicked", clicked, f"{sampleshop.SHOP_URL}/?m={row.id}")


def replay_year(tenant: Tenant, now: Any) -> dict[str, Any]:
    """The report of the sample year replayed through the tenant's flows (with holdouts) on a scratch database."""
    raw = copy.deepcopy(tenant.config.to_dict())
    flows = dict(raw.get("flows") or {})
    for name in HELD_OUT:
        flows[name] = {**dict(flows.get(name) or {}), "holdout_percent": 10}
    raw["flows"] = flows
    events = [parse_event(e, default_source="import") for e in sampleshop.generate(now.date())]
    scratch = scratch_engine()
    try:
        with scratch.begin() as conn:
            copied, _ = upsert_tenant(conn, validate_tenant(raw), now)
        simulate(scratch, copied, events, now)
        with scratch.begin() as conn:
            _engage(conn, copied, seed=7)
        recompute(scratch, copied, now)
        return build_report(scratch, copied.id)
    finally:
        scratch.dispose()


def results_section(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    """Replay the sample year through the flows on a scratch copy and print the results table.

    The replay takes a minute or two; its report is kept in the data directory for the day (and the
    tenant's settings), so running the demo again shows it at once.
    """
    started = time.perf_counter()
    now = runtime.clock()
    key = hashlib.sha256(json.dumps(tenant.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:12]
    cache = runtime.settings.data_dir / "demo" / f"results-{now.date().isoformat()}-{key}.json"
    if cache.exists():
        report, how = json.loads(cache.read_text(encoding="utf-8")), "kept from an earlier run today"
    else:
        report = replay_year(tenant, now)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(report), encoding="utf-8")
        how = f"{time.perf_counter() - started:.0f} s"
    echo(
        f"  results    the sample year replayed through the flows ({how}; simulated clock, nothing sent; "
        f"10% holdouts on {', '.join(HELD_OUT)}; opens and clicks drawn, orders the shop's own):"
    )
    for line in to_table(report, steps=False).splitlines():
        echo(f"             {line}")
    echo("             relance report --tenant NAME [--format json|csv] gives the same for a real shop")
