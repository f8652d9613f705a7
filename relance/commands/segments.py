"""``relance segments``: segment counts, members, and rule-based segments defined from the command line."""

from __future__ import annotations

import json
from typing import Any

import click
import yaml
from sqlalchemy import Connection

from core.errors import ConfigError
from core.operations import refresh_segments
from core.sections import validate_tenant
from core.segments.settings import segment_settings
from core.segments.store.membership import member_addresses, member_counts, never_refreshed
from core.segments.store.refresh import RefreshReport
from core.store.tenants import Tenant, get_tenant, upsert_tenant
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(segments)


def _parse_rule(text: str, name: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise ConfigError(f"segments.rules.{name}: not valid YAML or JSON ({reason})") from exc


def _save_rules(conn: Connection, tenant: Tenant, rules: dict[str, Any], now: Any) -> Tenant:
    raw = tenant.config.to_dict()
    section = dict(raw.get("segments") or {})
    if rules:
        section["rules"] = rules
    else:
        section.pop("rules", None)
    raw["segments"] = section
    saved, _ = upsert_tenant(conn, validate_tenant(raw), now)
    return saved


def _summary(report: RefreshReport) -> str:
    moved = sum(report.entered.values()) + sum(report.exited.values())
    filled = f"; {len(report.filled)} segments filled for the first time" if report.filled else ""
    return f"segments refreshed: {moved} changes recorded as events{filled}"


@click.command()
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--show", "show", metavar="SEGMENT", help="List the members' emails (phone when no email).")
@click.option("--define", nargs=2, metavar="NAME RULE", help="Add or replace a rule-based segment (RULE in YAML/JSON).")
@click.option("--remove", metavar="NAME", help="Remove a rule-based segment.")
@click.option("--refresh", is_flag=True, help="Recompute every segment and contact metric first.")
@click.pass_context
def segments(
    ctx: click.Context,
    tenant_name: str,
    fmt: str,
    show: str | None,
    define: tuple[str, str] | None,
    remove: str | None,
    refresh: bool,
) -> None:
    """Print each segment of a tenant with its member count, or list one segment's members.

    Segments are recomputed first when asked (--refresh), after a change of
    rules, or when the tenant has never been refreshed; otherwise the counts are
    those kept current as events arrive and by the hourly refresh.
    """
    runtime = get_runtime(ctx)
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        rules = dict((tenant.config.segments or {}).get("rules") or {})
        if define:
            name, text = define
            rules[name] = _parse_rule(text, name)
            tenant = _save_rules(conn, tenant, rules, now)
        if remove:
            if remove not in rules:
                raise ConfigError(
                    f"{remove}: no rule-based segment of that name in {tenant.name}; see 'relance segments --tenant {tenant.name}'"
                )
            rules.pop(remove)
            tenant = _save_rules(conn, tenant, rules, now)
        names = segment_settings(tenant.config.segments).names
        if show and show not in names:
            raise ConfigError(f"{show}: no such segment in {tenant.name} (segments: {', '.join(names)})")
        if refresh or define or remove or never_refreshed(conn, tenant.id):
            report = refresh_segments(conn, tenant, now, metrics=refresh)
            click.echo(_summary(report), err=True)
        if show:
            _show(conn, tenant, show)
            return
        counts = member_counts(conn, tenant.id)
    result = {name: counts.get(name, 0) for name in names}
    if fmt == "json":
        click.echo(json.dumps(result))
        return
    width = max(len(name) for name in result)
    for name, count in result.items():
        click.echo(f"{name:<{width}}  {count:>8}")


def _show(conn: Connection, tenant: Tenant, segment: str) -> None:
    for email, phone in member_addresses(conn, tenant.id, segment):
        click.echo(email or phone)
