"""``install(app)``: add the console to the web service's Flask app (``relance.wsgi`` calls it)."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Flask, g

from console.i18n import lang, t

#: The modules whose routes make up the console (they register on ``console.blueprint.bp``).
PAGES: tuple[str, ...] = (
    "console.auth",
    "console.pages.overview",
    "console.pages.dashboard",
    "console.pages.flows",
    "console.pages.campaigns",
    "console.pages.contacts",
    "console.pages.deliveries",
    "console.pages.settings",
)


def install(app: Flask) -> None:
    """Register the console's blueprint (under ``/console``) on ``app``."""
    for module in PAGES:
        importlib.import_module(module)
    from console.blueprint import bp

    if "console" in app.blueprints:
        return
    settings = app.extensions["relance"].settings
    # Flask's own cookie carries only the flashed notices ("Saved."); the session is console.auth's cookie.
    app.secret_key = app.secret_key or settings.secret_key
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["SESSION_COOKIE_SECURE"] = settings.base_url.startswith("https://")
    app.register_blueprint(bp)

    @app.context_processor
    def _console_globals() -> dict[str, Any]:
        return {"t": t, "lang": lang, "user": g.get("user"), "csrf_token": g.get("csrf")}
