"""``relance contact export|erase``: a contact's data (GDPR art. 15/20) and its erasure (art. 17).

The same functions as the console's contact page (``core.console.store.contacts``).
"""

from __future__ import annotations

import json

import click

from core.console.store.audit import record
from core.console.store.contacts import erase_contact, export_contact, find_contact
from core.errors import UserError
from core.store.tenants import get_tenant
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(contact)


@click.group()
def contact() -> None:
    """Export or erase one contact's data."""


@contact.command("export")
@click.argument("who")
@click.option("--tenant", "tenant_name", required=True, help="The tenant (client shop).")
@click.pass_context
def export(ctx: click.Context, who: str, tenant_name: str) -> None:
    """Print everything stored about a contact (email, phone or id) as JSON."""
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
        found = find_contact(conn, tenant.id, who)
        data = export_contact(conn, tenant.id, found.id)
    with runtime.engine.begin() as conn:
        record(conn, runtime.clock(), "cli", "contact_exported", tenant.id, contact=found.id)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@contact.command("erase")
@click.argument("who")
@click.option("--tenant", "tenant_name", required=True, help="The tenant (client shop).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase(ctx: click.Context, who: str, tenant_name: str, yes: bool) -> None:
    """Erase a contact (email, phone or id): their data removed or anonymised everywhere, the erasure recorded."""
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
        found = find_contact(conn, tenant.id, who)
    if not yes and not click.confirm(f"erase contact {found.id} of {tenant.name} for good?", default=False):
        raise UserError("nothing erased (confirm, or pass --yes)")
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        counts = erase_contact(conn, tenant.id, found.id, now, "cli")
        record(conn, now, "cli", "contact_erased", tenant.id, contact=found.id, rows=sum(counts.values()))
    details = ", ".join(f"{table} {count}" for table, count in sorted(counts.items()))
    click.echo(f"erased contact {found.id} of {tenant.name}: {details}")
