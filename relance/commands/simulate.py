"""``relance simulate``: what the flows and campaigns would send, replayed over a file of events.

The events go into a scratch database (an in-memory SQLite migrated like any
other) holding a copy of the tenant's settings, never into the tenant's own
data; the production engine runs over them with a simulated clock and a fake
transport. One JSON object per message goes to stdout, a summary to stderr.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import StaticPool

from core import normalize
from core.campaigns.simulation import CAMPAIGNS
from core.campaigns.store.campaigns import insert_campaign, list_campaign_rows
from core.errors import ConfigError, RelanceError
from core.events import BadLine, read_events
from core.flows.registry import BY_NAME as BUILTIN_FLOWS
from core.flows.settings import validate
from core.flows.simulation import SimulationResult, simulate
from core.model import Event
from core.store.db import make_engine, migrate
from core.store.tenants import Tenant, upsert_tenant
from core.tenants import TenantConfig
from relance.invocation import get_runtime
from relance.settings import Settings

Echo = Callable[[str], None]


def register(cli: click.Group) -> None:
    cli.add_command(simulate_command)


def scratch_engine() -> Engine:
    """A private in-memory database with the full schema, gone when the engine is."""
    engine = make_engine("sqlite://", poolclass=StaticPool)
    migrate(engine)
    return engine


def only_flows(config: TenantConfig, names: tuple[str, ...]) -> TenantConfig:
    """The tenant's settings with just the named flows switched on (even those switched off)."""
    if not names:
        return config
    section = dict(config.flows)
    custom = dict(section.get("custom") or {})
    known = set(BUILTIN_FLOWS) | set(custom)
    for name in names:
        if name not in known:
            raise ConfigError(f"--flow: unknown flow {name!r} (allowed: {', '.join(sorted(known))})")
    for builtin in BUILTIN_FLOWS:
        section[builtin] = {**dict(section.get(builtin) or {}), "enabled": builtin in names}
    if custom:
        section["custom"] = {name: spec for name, spec in custom.items() if name in names}
    if "priorities" in section:
        kept = set(BUILTIN_FLOWS) | set(section.get("custom") or {})
        section["priorities"] = [name for name in section["priorities"] if name in kept]
    return replace(config, flows=validate(section))


def composer(settings: Settings) -> tuple[Callable[[Connection, Tenant, Any], str | None] | None, list[str]]:
    """The subject of each message, from the message composer when it is installed."""
    problems: list[str] = []
    try:
        from core.messages.compose import compose
    except ImportError:
        problems.append("subjects are null: the message composer (core.messages.compose) is not installed")
        return None, problems

    def subject(conn: Connection, tenant: Tenant, row: Any) -> str | None:
        try:
            return compose(conn, tenant, row, settings.base_url, settings.secret_key).subject
        except RelanceError as exc:
            if len(problems) < 5:
                problems.append(f"no subject for {row.template}: {exc}")
            return None

    return subject, problems


def run_simulation(
    config: TenantConfig,
    events: list[Event],
    until: datetime | None,
    settings: Settings,
    campaigns: list[Any] | None = None,
) -> tuple[SimulationResult, list[str]]:
    """Simulate ``events`` for a copy of the tenant ``config`` in a scratch database, with its campaigns
    (those of its tenant file, and the stored ``campaigns`` rows handed in: created with the CLI)."""
    engine = scratch_engine()
    try:
        start = min(e.timestamp for e in events)
        with engine.begin() as conn:
            tenant, _ = upsert_tenant(conn, config, start)
            for row in campaigns or []:
                insert_campaign(conn, tenant.id, row.name, row.spec, row.state, row.source, row.start_at, start)
        subject, problems = composer(settings)
        return simulate(engine, tenant, events, until, subject, agendas=(CAMPAIGNS,)), problems
    finally:
        engine.dispose()


def summary_lines(result: SimulationResult) -> list[str]:
    """The summary: messages per flow and step, and what consent, pressure and quiet hours held back."""
    steps = Counter((m.flow, m.step) for m in result.messages)
    lines = []
    for flow, count in sorted(result.per_flow().items()):
        detail = ", ".join(f"step {step}: {n}" for (name, step), n in sorted(steps.items()) if name == flow)
        lines.append(f"{flow}: {count} messages ({detail})")
    if not result.messages:
        lines.append("no message would go out")
    out = result.outcomes
    consent = out["dropped:consent"] + out["suppressed:consent"]
    held = out["held:pressure"]
    dropped_pressure = out["dropped:pressure"]
    lines.append(
        f"held back: {consent} by consent, {dropped_pressure} dropped by marketing pressure "
        f"({held} times a message waited for a free slot), "
        f"{out['scheduled:quiet_hours']} moved out of quiet hours, {out['dropped:quiet_hours']} dropped by quiet hours"
    )
    others = {
        k: v
        for k, v in out.items()
        if k.startswith("dropped:") and k.split(":")[1] not in ("consent", "pressure", "quiet_hours")
    }
    if others:
        lines.append("also dropped: " + ", ".join(f"{v} {k.split(':')[1]}" for k, v in sorted(others.items())))
    return lines


def _events(file: str, echo_error: Echo) -> list[Event]:
    try:
        # Bytes: read_events decodes each line on its own, so a line that is not UTF-8 is one bad line.
        handle = sys.stdin.buffer if file == "-" else open(Path(file), "rb")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the events file ({exc.strerror})") from exc
    found: list[Event] = []
    try:
        for item in read_events(handle, default_source="simulation"):
            if isinstance(item, BadLine):
                echo_error(f"{file}: line {item.line}: {item.reason}")
            else:
                found.append(item)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    return found


def _until(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return normalize.timestamp(value)
    except ValueError as exc:
        raise ConfigError(f"--until: {exc} (use an ISO 8601 time such as 2026-12-31T00:00:00Z)") from exc


@click.command("simulate")
@click.option("--tenant", "tenant_name", required=True, help="The tenant whose flow settings to use.")
@click.option("--events", "events_file", required=True, help="A JSON Lines file of Event API v1 events (- for stdin).")
@click.option("--until", default=None, help="ISO 8601 end of the simulation (default: 30 days after the last event).")
@click.option(
    "--flow", "flows", multiple=True, help="Simulate only this flow, switched on even if it is off (repeatable)."
)
@click.pass_context
def simulate_command(
    ctx: click.Context, tenant_name: str, events_file: str, until: str | None, flows: tuple[str, ...]
) -> None:
    """Preview what the flows would send: replay events with a simulated clock, send nothing.

    Prints one JSON object per message (time, flow, step, channel, to, subject,
    products) in time order, and a summary on stderr.
    """
    from core.store.tenants import get_tenant

    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
        # the campaigns created with the CLI or the console that have not started (the file's come with it)
        stored = [r for r in list_campaign_rows(conn, tenant.id) if r.source == "api" and r.state == "scheduled"]
    config = only_flows(tenant.config, flows)
    end = _until(until)
    events = _events(events_file, lambda line: click.echo(line, err=True))
    if not events:
        raise ConfigError(f"{events_file}: holds no valid event to simulate")
    result, problems = run_simulation(config, events, end, runtime.settings, stored)
    for message in result.messages:
        click.echo(json.dumps(message.to_dict(), ensure_ascii=False))
    click.echo(
        f"simulated {result.events} events from {normalize.isoformat(result.started_at)} "
        f"to {normalize.isoformat(result.ended_at)} for {tenant.name}; nothing was sent",
        err=True,
    )
    for line in summary_lines(result) + problems:
        click.echo(f"  {line}", err=True)
