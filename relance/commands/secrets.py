"""``relance secrets``: the tenants' secrets at rest, encrypted with RELANCE_SECRET_KEY (docs/security.md)."""

from __future__ import annotations

import click

from core.store.tenants import keyring_of, reseal_tenants, secret_states
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(secrets)


@click.group()
def secrets() -> None:
    """See and rotate the encryption of the tenants' secrets (credentials, webhook secrets, passwords)."""


@secrets.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Per tenant, how many secrets are encrypted with the current key, a former key, or not at all."""
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        keyring = keyring_of(conn)
        assert keyring is not None  # the runtime's engine always carries one
        states = secret_states(conn, keyring)
    if not states:
        click.echo("no tenants yet")
        return
    width = max(len(name) for name in states)
    for name, counts in states.items():
        click.echo(
            f"{name:<{width}}  current key: {counts['current']}  former key: {counts['former']}  "
            f"in clear: {counts['clear']}"
        )
    former = sum(counts["former"] + counts["clear"] for counts in states.values())
    if former:
        click.echo("run 'relance secrets rotate' to encrypt every secret with the current key")


@secrets.command("rotate")
@click.pass_context
def rotate(ctx: click.Context) -> None:
    """Encrypt every tenant's secrets with the current RELANCE_SECRET_KEY (those in clear or under a former key)."""
    runtime = get_runtime(ctx)
    with runtime.engine.begin() as conn:
        keyring = keyring_of(conn)
        assert keyring is not None  # the runtime's engine always carries one
        totals = reseal_tenants(conn, keyring)
    click.echo(
        f"re-encrypted {totals['former'] + totals['clear']} secrets of {totals['tenants']} tenants with the current "
        f"key ({totals['clear']} were in clear, {totals['former']} under a former key, "
        f"{totals['current']} already current)"
    )
    if runtime.settings.old_secret_keys:
        click.echo("every secret now opens with RELANCE_SECRET_KEY alone: RELANCE_OLD_SECRET_KEYS can be removed")
