"""``relance serve``: the web service (webhooks, Event API, tracker, health) on Flask's server.

For production, run the same app under gunicorn (see docs/webhooks.md)::

    gunicorn --workers 4 --bind 0.0.0.0:8000 'relance.wsgi:app'
"""

from __future__ import annotations

import logging

import click

from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(serve)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Run the web service for development (use gunicorn in production).

    Receives WooCommerce webhooks at /hooks/<tenant>/woocommerce, Event API
    posts at /events/<tenant>, the tracker at /t/<tenant>.js and
    /collect/<tenant>; /healthz and /metrics for monitoring; the console at /console. Run 'relance
    worker' as well: it processes what the service stores.
    """
    from relance.wsgi import web_app

    runtime = get_runtime(ctx)
    logging.getLogger().setLevel(runtime.settings.log_level)
    app = web_app(runtime)
    click.echo(f"relance: serving on http://{host}:{port} (public address {runtime.settings.base_url})")
    click.echo(f"relance: the console is at {runtime.settings.base_url}/console/ (users: 'relance user add')")
    app.run(host=host, port=port, threaded=True, debug=False, use_reloader=False)
