"""The ``relance`` command line: one group, subcommands from ``relance.commands``.

A command reaches the invocation's runtime with ``relance.invocation.get_runtime``
(never through this module, which imports the commands).

A user's mistake (a bad file, an unknown tenant, an unreachable database) is
reported as one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from click.exceptions import NoArgsIsHelpError

from core.errors import DatabaseUnavailableError, RelanceError, UserError
from relance import __version__
from relance.commands import (
    attribution,
    campaign,
    contact,
    data,
    deliveries,
    demo,
    preview,
    report,
    secrets,
    segments,
    serve,
    simulate,
    sync,
    tenant,
    user,
    worker,
)
from relance.invocation import State
from relance.wiring import RedisUnavailableError

#: Modules whose ``register(cli)`` adds their commands.
COMMAND_MODULES = (
    tenant,
    data,
    demo,
    worker,
    sync,
    serve,
    deliveries,
    simulate,
    preview,
    segments,
    report,
    attribution,
    secrets,
    user,
    contact,
    campaign,
)

EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 3


class RelanceGroup(click.Group):
    """A click group that turns Relance's errors, and click's usage errors, into one clean line."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:  # relance --bogus
            _usage_error(exc)
            raise  # not reached: _usage_error exits

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # an unknown command, option or value below the group
            _usage_error(exc)
        except UserError as exc:
            _fail(str(exc), EXIT_USER_ERROR)
        except (DatabaseUnavailableError, RedisUnavailableError) as exc:
            _fail(str(exc), EXIT_UNAVAILABLE)
        except RelanceError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)


def _fail(message: str, code: int) -> None:
    click.echo(f"relance: error: {message}", err=True)
    sys.exit(code)


def _usage_error(exc: click.UsageError) -> None:
    """Click's usage error as one line naming the command's help, exit 2 (a bare group still shows its help)."""
    if isinstance(exc, NoArgsIsHelpError):
        raise exc
    message = " ".join(exc.format_message().split())
    where = exc.ctx.command_path if exc.ctx is not None else "relance"
    _fail(f"{message} (see '{where} --help')", EXIT_USER_ERROR)


@click.group(cls=RelanceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relance")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Relance: marketing automation for WooCommerce, Magento 2 and PrestaShop shops."""
    ctx.obj = State()
    ctx.call_on_close(ctx.obj.close)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _module in COMMAND_MODULES:
    _module.register(cli)


def main() -> None:
    cli(prog_name="relance")
