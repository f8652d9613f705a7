"""``relance user``: the console's accounts (add, list, remove, passwd).

Passwords are read from stdin with --password-stdin, else prompted twice
(never taken on the command line, where they would end in the shell's history
and in ``ps``). Every change is written to the console's audit log.
"""

from __future__ import annotations

import getpass
import sys

import click

from core.console.accounts import Role, check_role, check_username, hash_password
from core.console.errors import AccountError
from core.console.store.audit import record
from core.console.store.users import add_user, list_users, remove_user, set_password
from core.store.tenants import get_tenant, get_tenant_by_id
from relance.invocation import get_runtime

ACTOR = "cli"


def register(cli: click.Group) -> None:
    cli.add_command(user)


def read_password(from_stdin: bool) -> str:
    """The new password: stdin's first line, or typed twice at a prompt."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise AccountError("no password on stdin: pipe it in, e.g. 'printf %s \"$PW\" | relance user add ...'")
        return password
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask the password on: pass it on stdin with --password-stdin")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise AccountError("the two passwords differ; run the command again")
    return first


@click.group()
def user() -> None:
    """Manage the console's users (agency admins, shop owners and viewers)."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="What the user may see and do.")
@click.option("--tenant", "tenant_name", default=None, help="The one tenant of an owner or a viewer.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of prompting.")
@click.pass_context
def add(ctx: click.Context, name: str, role: str, tenant_name: str | None, password_stdin: bool) -> None:
    """Create a console user."""
    name = check_username(name)
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name) if tenant_name else None
    parsed = check_role(role, tenant.id if tenant else None)
    password_hash = hash_password(read_password(password_stdin))
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        created = add_user(conn, name, parsed, tenant.id if tenant else None, password_hash, now)
        record(conn, now, ACTOR, "user_added", created.tenant_id, user=created.name, role=parsed.value)
    where = f" of tenant {tenant.name}" if tenant else ""
    click.echo(f"created user {created.name} ({parsed.value}{where}); sign in at {runtime.settings.base_url}/console/")


@user.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """List the console's users."""
    with get_runtime(ctx).engine.connect() as conn:
        users = list_users(conn)
        names = {u.tenant_id: get_tenant_by_id(conn, u.tenant_id).name for u in users if u.tenant_id is not None}
    if not users:
        click.echo("no users yet: create one with 'relance user add NAME --role agency-admin'")
        return
    width = max(len(u.name) for u in users)
    for u in users:
        tenant = names.get(u.tenant_id, "*") if u.tenant_id is not None else "*"
        click.echo(f"{u.name:<{width}}  {u.role.value:<12}  {tenant:<20}  {u.created_at:%Y-%m-%d}")


@user.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Remove a user (their sessions end at once)."""
    runtime = get_runtime(ctx)
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        removed = remove_user(conn, check_username(name))
        record(conn, now, ACTOR, "user_removed", removed.tenant_id, user=removed.name)
    click.echo(f"removed user {removed.name}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin instead of prompting.")
@click.pass_context
def passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a user's password (their sessions end at once)."""
    runtime = get_runtime(ctx)
    name = check_username(name)
    with runtime.engine.connect() as conn:
        from core.console.store.users import get_user_by_name

        get_user_by_name(conn, name)  # an unknown user fails before the prompt
    password_hash = hash_password(read_password(password_stdin))
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        changed = set_password(conn, name, password_hash, now)
        record(conn, now, ACTOR, "password_changed", changed.tenant_id, user=changed.name)
    click.echo(f"changed the password of {changed.name}; their sessions have ended")
