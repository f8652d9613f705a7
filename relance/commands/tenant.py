"""``relance tenant``: add, list, show and apply client shops."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from core.errors import ConfigError
from core.model import Platform
from core.sections import validate_tenant
from core.store.tenants import get_tenant, list_tenants, upsert_tenant
from core.tenants import masked
from relance.invocation import get_runtime
from relance.tenantfile import load_tenant_file


def register(cli: click.Group) -> None:
    cli.add_command(tenant)


@click.group()
def tenant() -> None:
    """Manage client shops (tenants) and their settings."""


@tenant.command("add")
@click.argument("name")
@click.option("--platform", required=True, type=click.Choice([p.value for p in Platform]), help="The shop's platform.")
@click.option("--url", required=True, help="The shop's address, e.g. https://shop.example.com.")
@click.option("--timezone", default=None, help="IANA time zone of the shop (default UTC).")
@click.option("--locale", default=None, help="Default locale of the shop's customers (default en_US).")
@click.option("--currency", default=None, help="ISO 4217 currency of the shop (default EUR).")
@click.pass_context
def add(ctx: click.Context, name: str, platform: str, url: str, timezone: str, locale: str, currency: str) -> None:
    """Create a tenant; add its credentials with 'relance tenant apply'."""
    raw = {"name": name, "platform": platform, "url": url}
    raw.update({k: v for k, v in {"timezone": timezone, "locale": locale, "currency": currency}.items() if v})
    config = validate_tenant(raw)
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        if any(t.name == config.name for t in list_tenants(conn)):
            raise ConfigError(f"tenant {config.name!r} already exists; change it with 'relance tenant apply FILE.yaml'")
        upsert_tenant(conn, config, runtime.clock())
    click.echo(f"created tenant {config.name} ({config.platform.value}, {config.url})")


@tenant.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def list_command(ctx: click.Context, fmt: str) -> None:
    """List the tenants."""
    with get_runtime(ctx).engine.connect() as conn:
        tenants = list_tenants(conn)
    if fmt == "json":
        click.echo(
            json.dumps([{"name": t.name, "platform": t.config.platform.value, "url": t.config.url} for t in tenants])
        )
        return
    if not tenants:
        click.echo("no tenants yet: create one with 'relance tenant add NAME --platform ... --url ...'")
        return
    width = max(len(t.name) for t in tenants)
    for t in tenants:
        click.echo(f"{t.name:<{width}}  {t.config.platform.value:<11}  {t.config.timezone:<16}  {t.config.url}")


@tenant.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
@click.pass_context
def show(ctx: click.Context, name: str, fmt: str) -> None:
    """Show a tenant's settings, secrets masked."""
    with get_runtime(ctx).engine.connect() as conn:
        found = get_tenant(conn, name)
    data = masked(found.config.to_dict())
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())


@tenant.command("apply")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.pass_context
def apply(ctx: click.Context, file: Path) -> None:
    """Create or update tenants from a YAML file (one tenant per document)."""
    configs = load_tenant_file(file)
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        results = [upsert_tenant(conn, config, runtime.clock()) for config in configs]
    for saved, created in results:
        click.echo(f"{'created' if created else 'updated'} tenant {saved.name}")
