"""What gunicorn runs: ``gunicorn 'relance.wsgi:app'``.

``app`` is the web service configured by the RELANCE_* environment, built the
first time it is asked for (when gunicorn loads it), not when this module is
imported. The schema is not migrated here: run any ``relance`` command once
per release (for example ``relance tenant list``).
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from console.app import install as install_console
from relance.settings import Settings
from relance.wiring import Runtime, build_runtime
from webhooks.app import create_app

_app: Flask | None = None


def web_app(runtime: Runtime, **config: Any) -> Flask:
    """The web service with ``runtime``: the webhooks' app with the console under ``/console``."""
    app = create_app(runtime, **config)
    install_console(app)
    return app


def make_app(**config: Any) -> Flask:
    """A new web app with a runtime built from the environment; ``config`` overrides Flask settings."""
    return web_app(build_runtime(Settings.from_env(), migrate_schema=False), **config)


def __getattr__(name: str) -> Any:
    if name != "app":
        raise AttributeError(f"module 'relance.wsgi' has no attribute {name!r}")
    global _app
    if _app is None:
        _app = make_app()
    return _app
