"""One invocation of the ``relance`` command: its runtime, built on first use."""

from __future__ import annotations

import click

from relance.settings import Settings
from relance.wiring import Runtime, build_runtime


class State:
    """Per-invocation state: the runtime is built on first use."""

    def __init__(self) -> None:
        self._runtime: Runtime | None = None

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = build_runtime(Settings.from_env())
        return self._runtime

    def close(self) -> None:
        """At the end of the invocation: let go of Redis (the embedded one stops when nobody else uses it)."""
        if self._runtime is not None:
            self._runtime.close()


def get_runtime(ctx: click.Context) -> Runtime:
    """The runtime of this invocation (settings, engine with the schema up to date)."""
    return ctx.find_object(State).runtime()
