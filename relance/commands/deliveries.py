"""``relance deliveries``: list what the web service received, show one, replay a failed one."""

from __future__ import annotations

import json
from typing import Any

import click

from core.errors import UserError
from core.store.tenants import get_tenant, list_tenants
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(deliveries)


def _line(delivery: Any) -> str:
    when = delivery.received_at.strftime("%Y-%m-%d %H:%M:%S")
    text = f"{delivery.id:>8}  {when}  {delivery.source:<11} {delivery.topic:<18} {delivery.state:<9}"
    text += f" tries {delivery.attempts}"
    if delivery.error:
        text += f"  {delivery.error[:200]}"
    elif delivery.result:
        text += "  " + ", ".join(f"{k} {v}" for k, v in delivery.result.items() if not isinstance(v, list))
    return text


@click.command()
@click.option("--tenant", "tenant_name", help="The tenant whose deliveries to list (required for listing).")
@click.option("--failed", is_flag=True, help="Only deliveries whose processing failed.")
@click.option(
    "--state",
    type=click.Choice(["pending", "processed", "ignored", "failed"]),
    help="Only deliveries in this state.",
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="How many, newest first.")
@click.option("--show", "show_id", type=int, metavar="ID", help="Print one delivery with its headers and body.")
@click.option("--replay", "replay_id", type=int, metavar="ID", help="Process one delivery again, now.")
@click.option("--sweep", is_flag=True, help="Queue every pending delivery whose job was lost (Redis down or flushed).")
@click.pass_context
def deliveries(
    ctx: click.Context,
    tenant_name: str | None,
    failed: bool,
    state: str | None,
    limit: int,
    show_id: int | None,
    replay_id: int | None,
    sweep: bool,
) -> None:
    """Webhook, Event API and tracker deliveries as received, and what processing made of them.

    A delivery that failed keeps its error; fix the cause (e.g. the tenant's
    settings), then replay it with --replay ID.
    """
    from inbound.deliveries import get_delivery, list_deliveries

    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name) if tenant_name else None
    tenant_id = tenant.id if tenant else None
    if replay_id is not None:
        _replay(runtime, replay_id, tenant_id)
        return
    if show_id is not None:
        with runtime.engine.connect() as conn:
            delivery = get_delivery(conn, show_id, tenant_id)
        click.echo(_line(delivery))
        click.echo(json.dumps(dict(delivery.headers), indent=2))
        click.echo(delivery.body.decode("utf-8", "replace"))
        return
    if sweep:
        from jobs import context
        from jobs.inbound import run_sweep

        with context.running(runtime):
            counts = run_sweep()
        click.echo(f"{counts['enqueued']} enqueued, {counts['alive']} already queued, {counts['given_up']} given up")
        return
    if tenant is None:
        with runtime.engine.connect() as conn:
            names = ", ".join(t.name for t in list_tenants(conn)) or "none yet"
        raise UserError(f"say whose deliveries to list with --tenant NAME (tenants: {names})")
    with runtime.engine.connect() as conn:
        found = list_deliveries(conn, tenant.id, state="failed" if failed else state, limit=limit)
    if not found:
        click.echo("no deliveries" + (" in that state" if failed or state else ""))
    for delivery in found:
        click.echo(_line(delivery))


def _replay(runtime: Any, delivery_id: int, tenant_id: int | None) -> None:
    from inbound.deliveries import get_delivery
    from inbound.processing import process_delivery

    with runtime.engine.connect() as conn:
        get_delivery(conn, delivery_id, tenant_id)  # the tenant check: raises when not theirs
    try:
        redis = runtime.redis
    except Exception:  # noqa: BLE001 - metrics only; a replay does not need Redis
        redis = None
    outcome = process_delivery(runtime.engine, delivery_id, runtime.clock, redis=redis, replay=True)
    if outcome.error:
        raise UserError(f"delivery {delivery_id} failed again: {outcome.error}")
    details = ", ".join(f"{k} {v}" for k, v in outcome.result.items() if not isinstance(v, list))
    click.echo(f"delivery {delivery_id}: {outcome.state} ({details})")
