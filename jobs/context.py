"""The runtime a job runs in: installed by ``relance worker``, or built from the environment.

A plain ``rq worker`` process (production) builds it from RELANCE_* variables
on its first job; the embedded worker of ``relance demo`` installs its own.
"""

from __future__ import annotations

from relance.settings import Settings
from relance.wiring import Runtime, build_runtime

_runtime: Runtime | None = None


def install(runtime: Runtime) -> None:
    """Make ``runtime`` the one this process's jobs use."""
    global _runtime
    _runtime = runtime


def current() -> Runtime:
    """Return the installed runtime, building it from the environment the first time."""
    global _runtime
    if _runtime is None:
        _runtime = build_runtime(Settings.from_env(), migrate_schema=False)
    return _runtime
