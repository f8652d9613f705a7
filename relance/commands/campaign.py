"""``relance campaign``: one-off sends to a segment or a rule (docs/campaigns.md).

    relance campaign create --tenant shop --name loyal15 --segment loyal_customer --subject "15% for you" \
        --text "Thank you for your loyalty." --coupon LOYAL15 --at 2026-12-10T10:00 --local-time --per-hour 500
    relance campaign preview --tenant shop loyal15 > loyal15.html
    relance campaign test --tenant shop loyal15 --to me@example.com
    relance campaign dry-run --tenant shop loyal15
    relance campaign schedule --tenant shop loyal15 --at 2026-12-11T10:00 --local-time
    relance campaign cancel --tenant shop loyal15
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

import click
import yaml

from core.campaigns import (
    campaign_progress,
    cancel_campaign,
    create_campaign,
    dry_run,
    get_campaign,
    list_campaigns,
    schedule_campaign,
)
from core.campaigns.preview import render
from core.errors import ConfigError, UserError
from core.messages.errors import SendError
from core.model import Channel
from core.store.tenants import get_tenant
from relance.invocation import get_runtime
from transports.registry import tenant_transports


def register(cli: click.Group) -> None:
    cli.add_command(campaign)


def _when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{option}: {value!r} is not a date and time (use 2026-12-10T10:00)") from exc


def _yaml(text: str, what: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: not valid YAML or JSON ({str(exc).splitlines()[0]})") from exc


def _iso(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat().replace("+00:00", "Z")


@click.group()
def campaign() -> None:
    """One-off sends to a segment or a rule: list, show, create, preview, test, dry-run, schedule, cancel."""


@campaign.command("list")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def list_command(ctx: click.Context, tenant_name: str, fmt: str) -> None:
    """The tenant's campaigns, newest first."""
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        rows = list_campaigns(conn, tenant, runtime.clock())
    if fmt == "json":
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    if not rows:
        click.echo(f"no campaign in tenant {tenant_name!r}; create one with `relance campaign create`")
        return
    click.echo(f"{'name':<30} {'state':<10} {'source':<6} start")
    for row in rows:
        click.echo(f"{row.name:<30} {row.state:<10} {row.source:<6} {_iso(row.start_at)}")


@campaign.command("show")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.pass_context
def show_command(ctx: click.Context, tenant_name: str, name: str) -> None:
    """A campaign's definition, state and progress (JSON)."""
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, runtime.clock())
        row = get_campaign(conn, tenant, name)
        progress = campaign_progress(conn, tenant, name)
    click.echo(json.dumps({**row.to_dict(), "progress": progress.to_dict()}, indent=2, ensure_ascii=False))


@campaign.command("create")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.option("--name", default=None, help="The campaign's name (lower-case letters, digits, - and _).")
@click.option("--file", "path", type=click.Path(dir_okay=False), default=None,
              help="A YAML or JSON file holding the campaign, as in the tenant file (- for stdin).")  # fmt: skip
@click.option("--segment", default=None, help="Send to the members of this segment.")
@click.option("--rule", default=None, help="Send to the contacts matching this rule (YAML or JSON, as segment rules).")
@click.option("--exclude", multiple=True, help="Leave out the members of this segment (repeatable).")
@click.option("--channel", type=click.Choice([c.value for c in Channel]), default=None)
@click.option("--template", default=None, help="The template (default campaign/1, which shows subject, title, text).")
@click.option("--subject", default=None)
@click.option("--title", default=None)
@click.option("--text", default=None)
@click.option("--coupon", default=None)
@click.option("--product", "products", multiple=True, help="A product id to show (repeatable).")
@click.option("--at", default=None, help="When: 2026-12-10T10:00 (the shop's zone), or with an offset.")
@click.option("--local-time", is_flag=True, default=False, help="Send at --at in each contact's own time zone.")
@click.option("--per-hour", type=int, default=None, help="At most this many messages an hour.")
@click.option("--priority", default=None, help="lowest (default), highest, or a flow's name it goes just before.")
@click.pass_context
def create_command(ctx: click.Context, tenant_name: str, name: str | None, path: str | None, **options: Any) -> None:
    """Create a campaign (a draft, or scheduled when --at is given)."""
    raw: dict[str, Any] = {}
    if path:
        text = click.get_text_stream("stdin").read() if path == "-" else _read(path)
        loaded = _yaml(text, path)
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: must hold a mapping (name, segment or rule, subject, at...)")
        raw.update(loaded)
    if name:
        raw["name"] = name
    if options.get("rule"):
        raw["rule"] = _yaml(options.pop("rule"), "--rule")
    options.pop("rule", None)
    for key in ("exclude", "products"):
        if options.get(key):
            raw[key] = list(options[key])
        options.pop(key, None)
    if options.pop("local_time"):
        raw["local_time"] = True
    raw.update({key: value for key, value in options.items() if value is not None})
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        row = create_campaign(conn, tenant, raw, runtime.clock())
    click.echo(
        f"campaign {row.name!r} created: {row.state}" + (f", starts {_iso(row.start_at)}" if row.start_at else "")
    )


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise UserError(f"{path}: cannot be read ({exc.strerror})") from exc


@campaign.command("preview")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.option("--contact", "email", default=None, help="Render for this contact (else a sample contact).")
@click.option("--lang", default=None, help="Force a language (fr, en).")
@click.option("--format", "fmt", type=click.Choice(["html", "text"]), default="html", show_default=True)
@click.pass_context
def preview_command(ctx: click.Context, tenant_name: str, name: str, email: str | None, lang: str | None,
                    fmt: str) -> None:  # fmt: skip
    """Render the campaign's message."""
    runtime = get_runtime(ctx)
    settings = runtime.settings
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, runtime.clock())
        row = get_campaign(conn, tenant, name)
        message = render(conn, tenant, row.campaign, settings.base_url, settings.secret_key, runtime.clock(), email,
                         lang)  # fmt: skip
    if message.subject:
        click.echo(f"Subject: {message.subject}", err=True)
    click.echo(message.html if fmt == "html" and message.html else message.text)


@campaign.command("test")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.option("--to", "to", required=True, help="The address (or phone number, for SMS) to send the test to.")
@click.option("--contact", "email", default=None, help="Personalise it as for this contact (else a sample).")
@click.pass_context
def test_command(ctx: click.Context, tenant_name: str, name: str, to: str, email: str | None) -> None:
    """Send the campaign's message once to an address, through the tenant's transport ([TEST] in the subject)."""
    runtime = get_runtime(ctx)
    settings = runtime.settings
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, now)
        row = get_campaign(conn, tenant, name)
        message = render(conn, tenant, row.campaign, settings.base_url, settings.secret_key, now, email, to=to)
    transport = tenant_transports(settings.data_dir / "outbox")(tenant, message.channel)
    try:
        if message.channel == Channel.SMS.value:
            result = transport.send_sms(message, 0, now, None)  # type: ignore[union-attr]
        else:
            message = replace(message, subject=f"[TEST] {message.subject}")
            result = transport.send_email(message, 0, now)  # type: ignore[union-attr]
    except SendError as exc:
        raise UserError(f"the test message to {to} was not sent: {exc}") from exc
    click.echo(f"test message sent to {to}" + (f" ({result.detail})" if result.detail else ""))


@campaign.command("dry-run")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.option("--limit", type=click.IntRange(1), default=None, help="Print at most this many recipients.")
@click.pass_context
def dry_run_command(ctx: click.Context, tenant_name: str, name: str, limit: int | None) -> None:
    """Who would get the campaign, where and when (one JSON object a line), and a summary on stderr; nothing sent."""
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, runtime.clock())
        planned = dry_run(conn, tenant, name, runtime.clock())
    for line in planned[:limit]:
        click.echo(json.dumps(line.to_dict()))
    counts: dict[str, int] = {}
    for line in planned:
        key = line.outcome + (f":{line.reason}" if line.reason else "")
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{key} {count}" for key, count in sorted(counts.items())) or "nobody"
    click.echo(f"{len(planned)} recipients: {summary}", err=True)


@campaign.command("schedule")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.option("--at", "at", required=True, help="When: 2026-12-10T10:00 (the shop's zone), or with an offset.")
@click.option("--local-time/--no-local-time", default=None, help="At --at in each contact's own time zone.")
@click.pass_context
def schedule_command(ctx: click.Context, tenant_name: str, name: str, at: str, local_time: bool | None) -> None:
    """Give a draft its time (or move a scheduled campaign)."""
    when = _when(at, "--at")
    assert when is not None
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, runtime.clock())
        row = schedule_campaign(conn, tenant, name, when, runtime.clock(), local_time)
    click.echo(f"campaign {name!r} scheduled: starts {_iso(row.start_at)}")


@campaign.command("cancel")
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.argument("name")
@click.pass_context
def cancel_command(ctx: click.Context, tenant_name: str, name: str) -> None:
    """Cancel a campaign before or while it sends (what has gone, has gone)."""
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant_name)
        list_campaigns(conn, tenant, runtime.clock())
        cancel_campaign(conn, tenant, name, runtime.clock())
        progress = campaign_progress(conn, tenant, name)
    click.echo(f"campaign {name!r} cancelled: {progress.done} recipients handled, {progress.cancelled} cancelled")
