"""``relance sync``: poll a tenant's shop and store what changed (customers, orders, carts, products)."""

from __future__ import annotations

import sys
import time
from datetime import datetime

import click

from connectors.base import Resource
from connectors.errors import ConnectorError
from connectors.registry import connector_for
from connectors.settings import check_settings
from connectors.sync import ResourceStats, SyncReport, run_sync
from core import normalize
from core.errors import ConfigError
from core.store.tenants import get_tenant
from core.tenants import TenantConfig
from relance.invocation import get_runtime

COLUMNS = ("fetched", "created", "updated", "unchanged", "skipped")


def register(cli: click.Group) -> None:
    cli.add_command(sync)


def parse_since(value: str, config: TenantConfig, now: datetime) -> datetime:
    """An aware UTC time from ``--since`` (a time without offset is in the tenant's time zone)."""
    from zoneinfo import ZoneInfo

    try:
        when = normalize.timestamp(value.strip(), ZoneInfo(config.timezone))
    except ValueError as exc:
        raise ConfigError(
            f"--since {value!r} is not an ISO 8601 date or time; use e.g. 2026-11-01 or 2026-11-01T08:00:00+01:00"
        ) from exc
    if when is None:
        raise ConfigError("--since is empty; give an ISO 8601 date such as 2026-11-01")
    if when > now:
        raise ConfigError(f"--since {value!r} is in the future; give a time before now")
    return when


class _Progress:
    """A live line per resource on a terminal, else one line per finished resource (on stderr)."""

    def __init__(self, live: bool) -> None:
        self.live = live

    def __call__(self, resource: Resource, stats: ResourceStats, done: bool) -> None:
        line = f"  {resource.value:<10} " + "  ".join(f"{name} {getattr(stats, name)}" for name in COLUMNS)
        if stats.error and done:
            line += "  STOPPED"
        if self.live and not done:
            click.echo("\r" + line, nl=False, err=True)
        elif done:
            click.echo(("\r" if self.live else "") + line, err=True)


def echo_report(report: SyncReport, elapsed: float) -> None:
    """Print the summary table (stdout) and the errors (stderr)."""
    width = max([len("resource"), len("total")] + [len(r.value) for r in report.resources])
    click.echo(f"{'resource':<{width}}  " + "  ".join(f"{name:>9}" for name in COLUMNS))
    rows = [(resource.value, stats) for resource, stats in report.resources.items()]
    if len(rows) > 1:
        rows.append(("total", report.totals()))
    for name, stats in rows:
        stopped = "  STOPPED" if name != "total" and stats.error else ""
        click.echo(f"{name:<{width}}  " + "  ".join(f"{getattr(stats, col):>9}" for col in COLUMNS) + stopped)
    click.echo(f"synced tenant {report.tenant} in {elapsed:.1f} s" + ("" if report.ok else " with errors"))
    for resource, stats in report.resources.items():
        if stats.skipped_ids:
            more = (
                "" if stats.skipped <= len(stats.skipped_ids) else f" and {stats.skipped - len(stats.skipped_ids)} more"
            )
            click.echo(f"{resource.value}: skipped ids {', '.join(stats.skipped_ids)}{more} (see the log)", err=True)
        if stats.error:
            click.echo(f"{resource.value}: {stats.error}", err=True)


@click.command()
@click.option("--tenant", "tenant_name", required=True, help="The tenant whose shop to sync.")
@click.option("--full", is_flag=True, help="Read everything again, ignoring where the last sync stopped.")
@click.option("--since", help="Read what changed after this time (ISO 8601; without offset: the tenant's zone).")
@click.option(
    "--resource",
    "resource_names",
    multiple=True,
    type=click.Choice([r.value for r in Resource]),
    help="Only this resource (repeatable). Default: every resource the platform has.",
)
@click.pass_context
def sync(ctx: click.Context, tenant_name: str, full: bool, since: str | None, resource_names: tuple[str, ...]) -> None:
    """Poll a tenant's shop and store the customers, orders, carts and products that changed.

    Each page is stored with its cursor, so an interrupted sync resumes where
    it stopped; what is already stored is left unchanged. Two syncs of the
    same tenant never run at once.
    """
    if full and since:
        raise ConfigError("--full and --since cannot be combined; --full reads everything")
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
    when = parse_since(since, tenant.config, runtime.clock()) if since else None
    try:
        connector = connector_for(tenant.config)
    except ModuleNotFoundError as exc:
        raise ConnectorError(
            f"tenant {tenant.name}: syncing {tenant.config.platform.value} is not available in this install ({exc.name})"
        ) from exc
    resources = [Resource(name) for name in resource_names] or None
    click.echo(
        f"syncing tenant {tenant.name} from {tenant.config.url} ({tenant.config.platform.value}"
        + (", full" if full else f", since {normalize.isoformat(when)}" if when else "")
        + ")",
        err=True,
    )
    started = time.perf_counter()
    report = run_sync(
        runtime.engine,
        tenant,
        connector,
        resources=resources,
        full=full,
        since=when,
        clock=runtime.clock,
        progress=_Progress(live=sys.stderr.isatty()),
        producer=runtime.settings.sync_producer,
    )
    echo_report(report, time.perf_counter() - started)
    for line in check_settings(connector, tenant.config):  # the shop's currency, time zone, locale
        click.echo(f"warning: {line}", err=True)
    if not report.ok:
        sys.exit(1)
