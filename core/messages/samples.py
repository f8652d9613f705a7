"""Sample data for previews and for checking a tenant's template overrides.

A template override is rendered with these values when the settings are
applied, both with a full profile and with a contact who gave no first name,
so a template that only works when every value is present is caught early.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from core.messages import budget
from core.messages.compose import MessageDraft, compose_content
from core.messages.content import CartView, ContactView, Content, OrderView, ProductView
from core.messages.errors import TemplateError
from core.messages.settings import MessageSettings
from core.tenants import TenantConfig, validate_config

#: A fixed time for sample messages (rendering never reads the clock).
SAMPLE_TIME = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
SAMPLE_BASE_URL = "https://relance.example"
SAMPLE_SECRET = "sample-secret-key-for-template-checks"  # noqa: S105 - signs sample links only


def sample_products(base_url: str = "https://shop.example.com") -> tuple[ProductView, ...]:
    return (
        ProductView(
            product_id="101",
            name="Café d'Éthiopie Yirgacheffe 250 g",
            price=Decimal("12.90"),
            url=f"{base_url}/p/101",
            image_url=f"{base_url}/img/101.jpg",
            quantity=2,
        ),
        ProductView(
            product_id="205",
            name="Théière en fonte 0,8 L",
            price=Decimal("49.90"),
            url=f"{base_url}/p/205",
            image_url=f"{base_url}/img/205.jpg",
        ),
    )


def sample_content(config: TenantConfig, lang: str, first_name: str | None = "Marie") -> Content:
    items = sample_products(config.url)
    return Content(
        contact=ContactView(
            contact_id=0,
            first_name=first_name,
            last_name="Dupont",
            email="marie.dupont@example.com",
            phone="+33612345678",
            locale={"fr": "fr_FR", "en": "en_IE"}.get(lang, lang),
            timezone=config.timezone,
            email_consent=True,
            sms_consent=True,
        ),
        products=items,
        cart=CartView(
            url=f"{config.url}/cart", total=sum((p.price or 0) * p.quantity for p in items), currency=None, item_count=3
        ),
        order=OrderView(number="1042", total=Decimal("75.70"), currency=config.currency, created_at=SAMPLE_TIME),
        coupon="MERCI10",
    )


_SAMPLE_TENANT = {"name": "sample", "platform": "woocommerce", "url": "https://shop.example.com"}
_LAYOUT_CHECK = (
    "{% extends layout %}{% block subject %}Check{% endblock %}"
    "{% block content %}<mj-section><mj-column><mj-text>Check</mj-text></mj-column></mj-section>{% endblock %}"
)


def check_override(settings: MessageSettings, channel: str, name: str, lang: str) -> None:
    """Render one override with sample data (with and without a first name); raise TemplateError if it fails."""
    config = validate_config({**_SAMPLE_TENANT, "locale": lang}, {})
    template = name
    if name == "layout":
        template = "layout_check/1"
        overrides = {**settings.overrides, f"{lang}/layout_check/1.mjml": _LAYOUT_CHECK}
        settings = replace(settings, overrides=overrides)
    flow, _, step = template.rpartition("/")
    for marketing in (True, False):
        for first_name in ("Marie", None):
            draft = MessageDraft(
                id=0,
                tenant_id=0,
                contact_id=0,
                flow=flow,
                step=int(step),
                channel=channel,
                marketing=marketing,
                template=template,
                context={},
                dedupe_key="check",
                due_at=SAMPLE_TIME,
            )
            content = sample_content(config, lang, first_name)
            with budget.limit(budget.CHECK_SECONDS):  # tighter than at send time: refused in well under a second
                composed = compose_content(config, draft, content, SAMPLE_BASE_URL, SAMPLE_SECRET, settings=settings)
            if composed.lang != lang:
                raise TemplateError(f"template {name} in {lang} could not be loaded")
