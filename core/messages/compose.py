"""Compose a message from an outbox row: language, template, personalisation, links, headers.

``compose(conn, tenant, row, base_url, secret_key)`` reads what the message
shows from the store and returns a ``ComposedMessage`` ready for a transport.
``compose_content`` does the same from values already loaded (previews,
settings checks): it does no I/O.

The language is the contact's when a template exists in it (the tenant's
override or a default), else the tenant's, else English. Marketing messages
get UTM parameters and a signed click redirect on every link, an open pixel,
an unsubscribe footer and the ``List-Unsubscribe`` headers (RFC 8058).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlsplit

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import Connection

from core.flows.survey import survey_urls
from core.messages import links, sms
from core.messages.content import ContactView, Content
from core.messages.environment import babel_locale, environment, exists, template_name
from core.messages.errors import TemplateError
from core.messages.plaintext import mjml_to_text
from core.messages.render import render_email, render_text
from core.messages.settings import MessageSettings, message_settings
from core.messages.store.content import load
from core.model import Channel
from core.store.tenants import Tenant
from core.tenants import TenantConfig

PIXEL_TAG = '<img src="{src}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0;" />'


@dataclass(frozen=True)
class ComposedMessage:
    """A message ready to send. ``html``/``subject`` are None for SMS."""

    channel: str
    to: str | None
    subject: str | None
    html: str | None
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)
    lang: str = "en"
    template: str = ""
    sender_name: str | None = None
    sender_email: str | None = None
    reply_to: str | None = None
    preheader: str | None = None
    sms_encoding: str | None = None
    sms_segments: int | None = None
    #: SMS only: the destinations of the short links, by position (kept in ``message_links``).
    links: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageDraft:
    """The fields of an outbox row that composing reads (previews build one by hand)."""

    id: int
    tenant_id: int
    contact_id: int
    flow: str
    step: int
    channel: str
    marketing: bool
    template: str
    context: Mapping[str, Any]
    dedupe_key: str
    due_at: datetime
    to_address: str | None = None


def draft_of(row: Any) -> MessageDraft:
    """A MessageDraft from an outbox row (SQLAlchemy Row, mapping or draft)."""
    if isinstance(row, MessageDraft):
        return row
    get = row.__getitem__ if isinstance(row, Mapping) else lambda name: getattr(row, name)
    return MessageDraft(
        id=get("id"),
        tenant_id=get("tenant_id"),
        contact_id=get("contact_id"),
        flow=get("flow"),
        step=get("step"),
        channel=get("channel"),
        marketing=bool(get("marketing")),
        template=get("template"),
        context=dict(get("context") or {}),
        dedupe_key=get("dedupe_key"),
        due_at=get("due_at"),
        to_address=get("to_address"),
    )


def _language(locale: str | None) -> str | None:
    return locale.split("_")[0].lower() if locale else None


def fallback_names(template: str) -> list[str]:
    """``abandoned_cart/5`` -> [abandoned_cart/5, abandoned_cart/4, ..., abandoned_cart/1]."""
    flow, _, step = template.rpartition("/")
    if not flow or not step.isdigit():
        return [template]
    return [f"{flow}/{n}" for n in range(int(step), 0, -1)]


def choose_template(
    env: ImmutableSandboxedEnvironment, template: str, channel: str, langs: list[str]
) -> tuple[str, str]:
    """Return (language, loader name) of the template to use; raise TemplateError when none exists.

    Languages are tried in order; within one, a missing step falls back to the
    flow's previous step (a sixth abandoned-cart reminder uses the last default).
    """
    for lang in langs:
        for name in fallback_names(template):
            candidate = template_name(lang, name, channel)
            if exists(env, candidate):
                return lang, candidate
    raise TemplateError(
        f"no {channel} template {template!r} in {', '.join(langs)}; "
        f"add it under messages.templates.{channel} in the tenant file"
    )


def _babel_locale(lang: str, contact_locale: str | None, tenant_locale: str) -> str:
    for candidate in (contact_locale, tenant_locale):
        if candidate and _language(candidate) == lang:
            return candidate
    try:
        return str(Locale.parse(lang))
    except (UnknownLocaleError, ValueError):
        return "en"


def _money(amount: Decimal | None, currency: str, locale: str) -> str | None:
    return None if amount is None else format_currency(amount, currency, locale=babel_locale(locale))


def variables(
    config: TenantConfig,
    settings: MessageSettings,
    draft: MessageDraft,
    content: Content,
    lang: str,
    locale: str,
    links_for: Mapping[str, str | None],
) -> dict[str, Any]:
    """The values every template sees (all present; optional ones may be None)."""
    contact = content.contact
    currency = (content.cart.currency if content.cart else None) or config.currency
    layout = f"{lang}/layout.mjml"
    products = [
        {
            "id": p.product_id,
            "name": p.name or "",
            "price": _money(p.price, p.currency or currency, locale) or "",
            "price_amount": p.price,
            "currency": p.currency or currency,
            "quantity": p.quantity,
            "url": p.url,
            "image_url": p.image_url,
        }
        for p in content.products
    ]
    cart = None
    if content.cart is not None:
        cart = {
            "url": content.cart.url or config.url,
            "total": _money(content.cart.total, content.cart.currency or currency, locale),
            "item_count": content.cart.item_count,
        }
    order = None
    if content.order is not None:
        order = {
            "number": content.order.number,
            "total": _money(content.order.total, content.order.currency, locale),
            "date": content.order.created_at,
        }
    shop_name = config.sender.name if config.sender else config.name
    return {
        "lang": lang,
        "locale": locale,
        "currency": currency,
        "timezone": contact.timezone or config.timezone,
        "layout": layout,
        "shop": {"name": shop_name, "url": config.url},
        "brand": {"color": settings.brand_color, "logo_url": settings.logo_url},
        "footer_address": settings.footer_address,
        "marketing": draft.marketing,
        "flow": draft.flow,
        "step": draft.step,
        "contact": {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "city": contact.city,
            "country": contact.country,
        },
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "products": products,
        "cart": cart,
        "order": order,
        "coupon": content.coupon,
        "data": dict(content.extra),
        "unsubscribe_url": links_for.get("unsubscribe"),
        "preferences_url": links_for.get("unsubscribe"),
        "confirm_url": links_for.get("confirm"),
    }


def message_id_header(tenant_id: int, dedupe_key: str, domain: str) -> str:
    """The SMTP Message-ID, derived from the outbox's unique key: the same message always has the same id."""
    digest = hashlib.sha256(f"{tenant_id}:{dedupe_key}".encode()).hexdigest()[:32]
    return f"<relance.{digest}@{domain}>"


def _tracker(base_url: str, secret_key: str, draft: MessageDraft, medium: str) -> links.Rewrite:
    """The rewrite of a marketing message's links: UTM parameters and a signed click link, once per URL."""
    done: dict[str, str | None] = {}

    def rewrite(url: str) -> str | None:
        if url not in done:
            if url.startswith(base_url + "/"):
                done[url] = None  # our own links (unsubscribe, confirm) are not tracked
            else:
                target = links.add_utm(url, medium, draft.flow, str(draft.step))
                done[url] = links.click_url(base_url, secret_key, draft.tenant_id, draft.id, target)
        return done[url]

    return rewrite


def compose_content(
    config: TenantConfig,
    draft: MessageDraft,
    content: Content,
    base_url: str,
    secret_key: str,
    settings: MessageSettings | None = None,
    to: str | None = None,
) -> ComposedMessage:
    """Compose a message from loaded content; raise TemplateError when its template fails."""
    settings = settings or message_settings(config)
    env = environment(settings.overrides)
    contact: ContactView = content.contact
    langs = [lang for lang in (_language(contact.locale), _language(config.locale), "en") if lang]
    langs = list(dict.fromkeys(langs))
    lang, name = choose_template(env, draft.template, draft.channel, langs)
    locale = _babel_locale(lang, contact.locale, config.locale)
    link_values: dict[str, str | None] = {}
    if draft.marketing:
        link_values["unsubscribe"] = links.unsubscribe_url(
            base_url, secret_key, draft.tenant_id, draft.contact_id, draft.id
        )
    if draft.flow == "double_opt_in":
        link_values["confirm"] = links.confirm_url(
            base_url, secret_key, draft.tenant_id, draft.contact_id, draft.id, draft.due_at
        )
    values = variables(config, settings, draft, content, lang, locale, link_values)
    # the survey flow's five signed score links (core.flows.survey); empty for every other message
    survey = draft.context.get("survey") and draft.id is not None
    values["survey_urls"] = survey_urls(base_url, secret_key, draft.tenant_id, draft.id) if survey else []
    if not exists(env, values["layout"]):
        values["layout"] = "en/layout.mjml"
    if draft.channel == Channel.SMS.value:
        return _compose_sms(config, settings, env, draft, name, lang, values, base_url, secret_key, to or contact.phone)
    return _compose_email(config, settings, env, draft, name, lang, values, base_url, secret_key, to or contact.email)


def _compose_email(
    config: TenantConfig,
    settings: MessageSettings,
    env: ImmutableSandboxedEnvironment,
    draft: MessageDraft,
    name: str,
    lang: str,
    values: dict[str, Any],
    base_url: str,
    secret_key: str,
    to: str | None,
) -> ComposedMessage:
    rendered = render_email(env, name, values)
    html = rendered.html
    headers: dict[str, str] = {}
    sender = config.sender
    domain = (sender.email.rpartition("@")[2] if sender else None) or urlsplit(base_url).hostname or "relance.invalid"
    headers["Message-ID"] = message_id_header(draft.tenant_id, draft.dedupe_key, domain)
    tracker = _tracker(base_url, secret_key, draft, "email") if draft.marketing else None
    # The text part from the MJML source (small), its links rewritten as the HTML's are.
    text = mjml_to_text(rendered.source, tracker)
    if tracker is not None:
        html = links.rewrite_html_links(html, tracker)
        pixel = PIXEL_TAG.format(src=links.open_url(base_url, secret_key, draft.tenant_id, draft.id))
        html = html.replace("</body>", pixel + "</body>", 1) if "</body>" in html else html + pixel
        mailbox = settings.unsubscribe_email or (sender.reply_to or sender.email if sender else None)
        one_click = values["unsubscribe_url"]
        parts = [f"<{one_click}>"]
        if mailbox:
            parts.append(f"<mailto:{mailbox}?subject={quote(f'unsubscribe {draft.id}')}>")
        headers["List-Unsubscribe"] = ", ".join(parts)
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return ComposedMessage(
        channel=Channel.EMAIL.value,
        to=to,
        subject=_variant_subject(env, draft, values) or rendered.subject,
        html=html,
        text=text,
        headers=headers,
        lang=lang,
        template=name,
        sender_name=sender.name if sender else None,
        sender_email=sender.email if sender else None,
        reply_to=sender.reply_to if sender else None,
        preheader=rendered.preheader or None,
    )


def _variant_subject(env: ImmutableSandboxedEnvironment, draft: MessageDraft, values: dict[str, Any]) -> str | None:
    """An A/B variant's own subject (``subject`` in the message's context), rendered in the sandbox."""
    text = draft.context.get("subject")
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return " ".join(env.from_string(text).render(values).split()) or None
    except Exception as exc:  # noqa: BLE001 - any template error is the variant's, reported as such
        raise TemplateError(f"the A/B variant's subject {text[:60]!r}: {exc}") from exc


def _compose_sms(
    config: TenantConfig,
    settings: MessageSettings,
    env: ImmutableSandboxedEnvironment,
    draft: MessageDraft,
    name: str,
    lang: str,
    values: dict[str, Any],
    base_url: str,
    secret_key: str,
    to: str | None,
) -> ComposedMessage:
    text = sms.plain(render_text(env, name, values))
    destinations: list[str] = []

    def shorten(url: str) -> str | None:
        if url.startswith(base_url + "/") or len(destinations) >= 100:
            return None
        destinations.append(links.add_utm(url, "sms", draft.flow, str(draft.step)))
        return links.sms_link_url(base_url, secret_key, draft.tenant_id, draft.id, len(destinations) - 1)

    if draft.marketing:
        text = links.rewrite_text_links(text, shorten)
        text = sms.with_stop(text, lang, settings.sms.stop_text.get(lang))
    shape = sms.shape(text)
    if shape.segments > settings.sms.max_segments:
        raise TemplateError(
            f"template {name}: the SMS is {shape.segments} segments long ({shape.encoding}, {shape.units} units), "
            f"more than messages.sms.max_segments ({settings.sms.max_segments}); shorten it"
        )
    return ComposedMessage(
        channel=Channel.SMS.value,
        to=to,
        subject=None,
        html=None,
        text=text,
        headers={},
        lang=lang,
        template=name,
        sms_encoding=shape.encoding,
        sms_segments=shape.segments,
        links=tuple(destinations),
    )


def compose(
    conn: Connection,
    tenant: Tenant,
    message_row: Any,
    base_url: str,
    secret_key: str,
    settings: MessageSettings | None = None,
) -> ComposedMessage:
    """Compose the outbox message ``message_row`` for ``tenant``.

    Raises TemplateError when its template fails and MessageNotFoundError when
    its contact no longer exists.
    """
    from core.messages.errors import MessageNotFoundError

    draft = draft_of(message_row)
    content = load(conn, tenant.id, tenant.config.platform.value, draft.contact_id, draft.context)
    if content is None:
        raise MessageNotFoundError(f"message {draft.id}: its contact {draft.contact_id} no longer exists")
    channel_address = content.contact.phone if draft.channel == Channel.SMS.value else content.contact.email
    return compose_content(
        tenant.config,
        draft,
        content,
        base_url.rstrip("/"),
        secret_key,
        settings=settings,
        to=channel_address or draft.to_address,
    )
