"""``relance report``: the results of a tenant's messages (or of every tenant with --all)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import click

from core.errors import UserError
from core.reports import build_report
from core.reports.formats import to_csv, to_table
from core.store.tenants import get_tenant, list_tenants
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(report)


def parse_bound(text: str | None, option: str, end: bool = False) -> datetime | None:
    """A period bound: a date (YYYY-MM-DD, the whole day included) or an ISO 8601 time (UTC when no offset)."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{option} {text!r}: not a date; use YYYY-MM-DD or an ISO 8601 time") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


@click.command()
@click.option("--tenant", "tenant_name", help="The tenant.")
@click.option("--all", "every", is_flag=True, help="Every tenant (for an agency).")
@click.option("--since", help="First day (YYYY-MM-DD) or time (ISO 8601) included.")
@click.option("--until", help="Last day included (YYYY-MM-DD), or time (ISO 8601) excluded.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.pass_context
def report(
    ctx: click.Context, tenant_name: str | None, every: bool, since: str | None, until: str | None, fmt: str
) -> None:
    """Print what the messages sent, earned and changed: per flow, step, campaign and A/B variant,
    with attributed orders and revenue, holdout comparisons, tenant totals and a per-day series."""
    if bool(tenant_name) == every:
        raise UserError("name one tenant with --tenant NAME, or every tenant with --all")
    start, end = parse_bound(since, "--since"), parse_bound(until, "--until", end=True)
    if start and end and end <= start:
        raise UserError(f"--until {until} is not after --since {since}; give a later --until")
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenants = list_tenants(conn) if every else [get_tenant(conn, tenant_name or "")]
        reports = [build_report(conn, tenant.id, start, end) for tenant in tenants]
    if fmt == "json":
        out = reports[0] if not every else {"tenants": {r["tenant"]: r for r in reports}}
        click.echo(json.dumps(out, indent=2))
    elif fmt == "csv":
        click.echo(to_csv(reports), nl=False)
    else:
        click.echo("\n\n".join(to_table(r) for r in reports) if reports else "no tenants")
