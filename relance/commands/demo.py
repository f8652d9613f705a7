"""``relance demo``: the first command a newcomer runs."""

from __future__ import annotations

import click

from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(demo)


@click.command()
@click.pass_context
def demo(ctx: click.Context) -> None:
    """Load a sample shop through the real pipeline (SQLite and an embedded Redis) and show what Relance does with it."""
    from relance.demo.run import run

    run(get_runtime(ctx), click.echo)
