"""``relance preview``: render a flow's message with real or sample data.

An agency checks a template before switching a flow on::

    relance preview --tenant shop --flow abandoned_cart --step 2 --contact marie@example.com --format html > a.html

Without ``--contact`` (or when the contact has no cart or order for the
flow) sample data is used: a sample contact, and the shop's own products when
it has some.
"""

from __future__ import annotations

import click

from core.messages.compose import ComposedMessage
from core.messages.mime import build_email
from core.messages.previews import render_preview
from core.model import Channel
from core.store.tenants import get_tenant
from relance.invocation import get_runtime


def register(cli: click.Group) -> None:
    cli.add_command(preview)


@click.command()
@click.option("--tenant", "tenant_name", required=True, help="The tenant (client shop).")
@click.option(
    "--flow",
    required=True,
    help="The flow: abandoned_cart, birthday, cross_sell, replenishment, double_opt_in or a custom flow.",
)
@click.option("--step", default=1, show_default=True, type=click.IntRange(1, 99), help="The flow's message number.")
@click.option("--contact", "email", default=None, help="Render for this contact (their cart, order, name, language).")
@click.option("--channel", type=click.Choice([c.value for c in Channel]), default="email", show_default=True)
@click.option("--lang", default=None, help="Force a language (fr, en); default: the contact's, else the shop's.")
@click.option("--format", "fmt", type=click.Choice(["html", "text", "eml"]), default="html", show_default=True)
@click.pass_context
def preview(
    ctx: click.Context,
    tenant_name: str,
    flow: str,
    step: int,
    email: str | None,
    channel: str,
    lang: str | None,
    fmt: str,
) -> None:
    """Render a flow's message with real or sample data, to check a template before switching a flow on."""
    runtime = get_runtime(ctx)
    settings = runtime.settings
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
        message = render_preview(
            conn, tenant, flow, step, channel, email, lang, settings.base_url, settings.secret_key, now
        )
    if channel == Channel.SMS.value or fmt == "text":
        click.echo(message.text, nl=not message.text.endswith("\n"))
        if channel == Channel.SMS.value:
            click.echo(f"-- {message.sms_segments} segment(s), {message.sms_encoding}", err=True)
        return
    if fmt == "html":
        click.echo(message.html)
        return
    if message.sender_email is None:
        message = ComposedMessage(**{**message.__dict__, "sender_email": "sender-not-set@example.invalid"})
    if message.to is None:
        message = ComposedMessage(**{**message.__dict__, "to": "contact@example.invalid"})
    click.echo(build_email(message, now).as_string())
