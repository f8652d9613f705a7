"""``relance attribution``: credit a tenant's orders to messages again (history, or new windows)."""

from __future__ import annotations

import click

from core.attribution.attribute import recompute
from core.errors import UserError
from core.store.tenants import get_tenant
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(attribution)


@click.command()
@click.option("--tenant", "tenant_name", required=True, help="The tenant.")
@click.option("--recompute", "again", is_flag=True, help="Credit every order of the tenant again.")
@click.pass_context
def attribution(ctx: click.Context, tenant_name: str, again: bool) -> None:
    """Credit orders to the message clicked (else opened) last within the tenant's windows.

    New and changed orders are credited as they arrive; --recompute does it for
    the whole history (after an import, or a change of the windows).
    """
    if not again:
        raise UserError("nothing to do: add --recompute to credit every order of the tenant again")
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
    seen, credited = recompute(runtime.engine, tenant, runtime.clock())
    click.echo(f"{tenant.name}: {seen} orders looked at, {credited} credited to a message")
