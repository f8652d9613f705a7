"""The web service: storefront webhooks, the Event API, the tracker and health.

``create_app(runtime_or_settings)`` (in ``webhooks.app``) builds the Flask app;
nothing is built at import time. Blueprints are listed by dotted name in
``webhooks.app.BLUEPRINTS``; each one reaches the process's
:class:`relance.wiring.Runtime` through ``webhooks.runtime()`` (kept in
``app.extensions["relance"]``).

The names are imported lazily so that loading ``core.store.deliveries`` (the
deliveries table) does not import Flask.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BLUEPRINTS", "create_app", "runtime"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from webhooks import app

        return getattr(app, name)
    raise AttributeError(f"module 'webhooks' has no attribute {name!r}")
