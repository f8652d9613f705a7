"""A campaign's message rendered for one contact (or a sample one): the preview and the test send."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import Connection

from core.campaigns.model import Campaign
from core.errors import NotFoundError, UserError
from core.messages.compose import ComposedMessage, MessageDraft, compose_content
from core.messages.errors import TemplateError
from core.messages.samples import sample_content
from core.messages.store.content import get_products, load
from core.store.contacts import find_contact_id
from core.store.tenants import Tenant


def render(
    conn: Connection,
    tenant: Tenant,
    campaign: Campaign,
    base_url: str,
    secret_key: str,
    now: datetime,
    email: str | None = None,
    lang: str | None = None,
    to: str | None = None,
) -> ComposedMessage:
    """Compose the campaign's message for the contact with ``email`` (else a sample contact).

    Raises NotFoundError for an unknown contact and UserError when the template fails.
    """
    context = campaign.context()
    contact_id = 0
    content = None
    if email:
        contact_id = find_contact_id(conn, tenant.id, email) or 0
        if not contact_id:
            raise NotFoundError(
                f"no contact with the email {email!r} in tenant {tenant.name!r}; leave it out for a sample"
            )
        content = load(conn, tenant.id, tenant.config.platform.value, contact_id, context)
    if content is None:
        sample = sample_content(tenant.config, lang or tenant.config.locale.split("_")[0])
        found = get_products(conn, tenant.id, list(campaign.products), tenant.config.platform.value)
        extra = {k: v for k, v in context.items() if k not in ("products", "coupon")}
        content = replace(sample, products=tuple(found), cart=None, order=None, coupon=campaign.coupon, extra=extra)
    if lang:
        locale = {"fr": "fr_FR", "en": "en_IE"}.get(lang, lang)
        content = replace(content, contact=replace(content.contact, locale=locale))
    draft = MessageDraft(
        id=0,
        tenant_id=tenant.id,
        contact_id=contact_id,
        flow=campaign.flow,
        step=1,
        channel=campaign.channel.value,
        marketing=True,
        template=campaign.template,
        context=context,
        dedupe_key=f"preview:{campaign.flow}",
        due_at=now,
    )
    try:
        return compose_content(tenant.config, draft, content, base_url.rstrip("/"), secret_key, to=to)
    except TemplateError as exc:
        raise UserError(str(exc)) from exc
