"""The ``relance`` command line: one group, subcommands from ``relance.commands``.

A user's mistake (a bad file, an unknown tenant, an unreachable database) is
reported as one line on stderr with a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import click

from core.errors import DatabaseUnavailableError, RelanceError, UserError
from relance import __version__
from relance.settings import Settings
from relance.wiring import RedisUnavailableError, Runtime, build_runtime

#: Modules whose ``register(cli)`` adds their commands.
COMMAND_MODULES = (
    "relance.commands.tenant",
    "relance.commands.data",
    "relance.commands.demo",
    "relance.commands.worker",
    "relance.commands.sync",
    "relance.commands.serve",
    "relance.commands.deliveries",
    "relance.commands.simulate",
    "relance.commands.preview",
    "relance.commands.segments",
)

EXIT_USER_ERROR = 2
EXIT_UNAVAILABLE = 3


class RelanceGroup(click.Group):
    """A click group that turns Relance's errors into one clean line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
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


class State:
    """Per-invocation state: the runtime is built on first use."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = build_runtime(Settings.from_env())
        return self._runtime


def get_runtime(ctx: click.Context) -> Runtime:
    """The runtime of this invocation (settings, engine with the schema up to date)."""
    return ctx.find_object(State).runtime()


@click.group(cls=RelanceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="relance")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Relance: marketing automation for WooCommerce, Magento 2 and PrestaShop shops."""
    ctx.obj = State()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(cli)


def main() -> None:
    cli(prog_name="relance")
