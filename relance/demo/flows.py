"""The demo's flows section: what each flow (and the demo's campaign) would send in the next 30 days.

The demo tenant is copied into a scratch database and the production engine
runs there with a simulated clock from now (the runs the import started, the
birthday scan, the replenishment refresh), sending nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, insert, select

from core import normalize
from core.campaigns.simulation import CAMPAIGNS
from core.campaigns.store.campaigns import list_campaign_rows
from core.flows.settings import tenant_flows
from core.flows.simulation import DEFAULT_TAIL, project
from core.store.registry import all_metadata
from core.store.schema import products
from core.store.tenants import Tenant, get_tenant_by_id
from relance.commands.simulate import composer, scratch_engine, summary_lines
from relance.wiring import Runtime

Echo = Callable[[str], None]


def copy_tenant(source: Engine, target: Engine, tenant_id: int) -> None:
    """Copy one tenant's rows, every table, from ``source`` into the (empty, migrated) ``target``."""
    with source.connect() as src, target.begin() as dst:
        for table in all_metadata().sorted_tables:
            if table.name == "tenants":
                query = select(table).where(table.c.id == tenant_id)
            elif "tenant_id" in table.c:
                query = select(table).where(table.c.tenant_id == tenant_id)
            else:
                continue
            rows = [dict(row._mapping) for row in src.execute(query)]
            for start in range(0, len(rows), 500):
                dst.execute(insert(table), rows[start : start + 500])


def flows_section(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    """Print what each flow would send in the next 30 days, simulated on a copy of the demo tenant."""
    now = runtime.clock()
    scratch = scratch_engine()
    # The copied rows keep their secrets encrypted: the copy reads them with the same keyring.
    scratch.update_execution_options(**runtime.engine.get_execution_options())
    try:
        copy_tenant(runtime.engine, scratch, tenant.id)
        with scratch.connect() as conn:
            copied = get_tenant_by_id(conn, tenant.id)
            names_of = dict(
                conn.execute(
                    select(products.c.external_id, products.c.name).where(products.c.tenant_id == tenant.id)
                ).all()
            )
        subject, _ = composer(runtime.settings)
        result = project(scratch, copied, now, now + DEFAULT_TAIL, subject, agendas=(CAMPAIGNS,))
        with scratch.connect() as conn:
            campaigns = list_campaign_rows(conn, tenant.id)
    finally:
        scratch.dispose()
    flows = ", ".join(tenant_flows(tenant.config.flows).by_name)
    echo(f"  flows      {flows}")
    for row in campaigns:
        spec = row.spec
        audience = spec.get("segment") or "a rule"
        when = f"{spec['at']} in each contact's zone" if spec.get("local_time") else normalize.isoformat(row.start_at)
        echo(
            f"  campaign   {row.name}: to {audience}, {when}, "
            + (f"at most {spec['per_hour']} an hour" if spec.get("per_hour") else "no hourly limit")
        )
    echo("             the next 30 days, simulated on a copy (same engine, simulated clock, nothing sent):")
    for line in summary_lines(result):
        echo(f"             {line}")
    seen: set[str] = set()
    for message in result.messages:
        if message.flow in seen:
            continue
        seen.add(message.flow)
        shown = ", ".join(names_of.get(p) or p for p in message.products[:4]) or "no product"
        about = f'"{message.subject}" ' if message.subject else ""
        echo(
            f"             e.g. {normalize.isoformat(message.time)} {message.flow} step {message.step} "
            f"to {message.to}: {about}[{shown}]"
        )
