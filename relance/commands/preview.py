"""``relance preview``: render a flow's message with real or sample data.

An agency checks a template before switching a flow on::

    relance preview --tenant shop --flow abandoned_cart --step 2 --contact marie@example.com --format html > a.html

Without ``--contact`` (or when the contact has no cart or order for the
flow) sample data is used: a sample contact, and the shop's own products when
it has some.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from sqlalchemy import Connection

from core.errors import NotFoundError, UserError
from core.messages.compose import ComposedMessage, MessageDraft, compose_content
from core.messages.content import Content
from core.messages.errors import TemplateError
from core.messages.mime import build_email
from core.messages.samples import sample_content
from core.messages.store.content import get_products, load
from core.model import Channel
from core.store import samples
from core.store.contacts import find_contact_id
from core.store.tenants import Tenant, get_tenant
from relance.invocation import get_runtime

DOUBLE_OPT_IN = "double_opt_in"


def register(cli: click.Group) -> None:
    cli.add_command(preview)


def flow_context(conn: Connection, tenant: Tenant, contact_id: int, flow: str) -> dict[str, Any]:
    """The outbox context a flow would give this contact: their latest cart or order."""
    if flow == "abandoned_cart":
        cart = samples.latest_open_cart(conn, tenant.id, contact_id)
        return {"cart_id": cart} if cart else {}
    if flow in ("cross_sell", "replenishment"):
        order = samples.latest_paid_order(conn, tenant.id, contact_id)
        if order is None:  # no paid order yet: show the shop's first products
            first = samples.first_products(conn, tenant.id, 3)
            return {"products": first[: 1 if flow == "replenishment" else 3]}
        bought = samples.order_product_ids(conn, tenant.id, order.id)
        if flow == "replenishment":
            return {"order_id": order.external_id, "products": bought[:1]}
        others = samples.first_products(conn, tenant.id, 3, excluding=bought)
        return {"order_id": order.external_id, "products": others}
    return {}


def _sample_with_shop_products(conn: Connection, tenant: Tenant, lang: str | None) -> Content:
    content = sample_content(tenant.config, lang or tenant.config.locale.split("_")[0])
    ids = samples.first_products(conn, tenant.id, 2)
    found = get_products(conn, tenant.id, ids, tenant.config.platform.value)
    if found:
        content = Content(
            contact=content.contact,
            products=tuple(found),
            cart=content.cart,
            order=content.order,
            coupon=content.coupon,
        )
    return content


def render_preview(
    conn: Connection,
    tenant: Tenant,
    flow: str,
    step: int,
    channel: str,
    email: str | None,
    lang: str | None,
    base_url: str,
    secret_key: str,
    now: datetime,
) -> ComposedMessage:
    """Compose the message ``flow``/``step`` for the contact with ``email`` (or a sample one)."""
    contact_id = 0
    content: Content | None = None
    if email:
        contact_id = find_contact_id(conn, tenant.id, email) or 0
        if not contact_id:
            raise NotFoundError(
                f"no contact with the email {email!r} in tenant {tenant.name!r}; leave --contact out for sample data"
            )
        context = flow_context(conn, tenant, contact_id, flow)
        content = load(conn, tenant.id, tenant.config.platform.value, contact_id, context)
        if content is not None and not content.products:
            sample = _sample_with_shop_products(conn, tenant, lang)
            content = Content(
                contact=content.contact,
                products=sample.products,
                cart=sample.cart,
                order=sample.order,
                coupon=sample.coupon,
            )
    if content is None:
        content = _sample_with_shop_products(conn, tenant, lang)
    if lang:
        locale = {"fr": "fr_FR", "en": "en_IE"}.get(lang, lang)
        content = Content(
            **{**content.__dict__, "contact": type(content.contact)(**{**content.contact.__dict__, "locale": locale})}
        )
    coupon = content.coupon if step > 1 or flow == "birthday" else None
    content = Content(**{**content.__dict__, "coupon": coupon})
    draft = MessageDraft(
        id=0,
        tenant_id=tenant.id,
        contact_id=contact_id,
        flow=flow,
        step=step,
        channel=channel,
        marketing=flow != DOUBLE_OPT_IN,
        template=f"{flow}/{step}",
        context={},
        dedupe_key=f"preview:{flow}:{step}",
        due_at=now,
    )
    try:
        return compose_content(tenant.config, draft, content, base_url, secret_key)
    except TemplateError as exc:
        raise UserError(str(exc)) from exc


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
