"""Every default template renders, in both languages, and the result is what a mailbox needs."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from core.errors import ConfigError
from core.messages import links
from core.messages.compose import MessageDraft, compose_content
from core.messages.content import ContactView, Content, ProductView
from core.messages.errors import TemplateError
from core.messages.samples import SAMPLE_TIME, sample_content
from core.messages.settings import message_settings
from core.sections import validate_tenant
from tests.messages.helpers import BASE_URL, SECRET, SENDER

TEMPLATES = [
    "abandoned_cart/1",
    "abandoned_cart/2",
    "abandoned_cart/3",
    "birthday/1",
    "cross_sell/1",
    "replenishment/1",
]
EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def config(**extra):
    raw = {"name": "shop", "platform": "woocommerce", "url": "https://shop.example.com", "locale": "fr_FR"}
    return validate_tenant({**raw, "sender": SENDER, **extra})


def draft(template, channel="email", marketing=True, message_id=42):
    flow, _, step = template.rpartition("/")
    return MessageDraft(
        id=message_id,
        tenant_id=1,
        contact_id=7,
        flow=flow,
        step=int(step),
        channel=channel,
        marketing=marketing,
        template=template,
        context={},
        dedupe_key="run:1:step:1",
        due_at=SAMPLE_TIME,
    )


def compose(template, lang="fr", first_name="Marie", channel="email", cfg=None, **kwargs):
    cfg = cfg or config()
    content = sample_content(cfg, lang, first_name)
    return compose_content(cfg, draft(template, channel, **kwargs), content, BASE_URL, SECRET)


def tags_of(html):
    """Every start tag of an HTML document with its attributes, as a browser's parser sees them."""
    found = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, attrs))

    Collector().feed(html)
    return found


def clicked_targets(html):
    """The destinations of the tracked links of an email (decoded from their signed tokens)."""
    targets = []
    for href in re.findall(r'href="([^"]+)"', html):
        href = unescape(href)
        if href.startswith(f"{BASE_URL}/m/c/"):
            targets.append(links.read_click(SECRET, href.rsplit("/", 1)[1]).url)
    return targets


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_default_email_renders_responsive_tracked_and_unsubscribable(template, lang):
    message = compose(template, lang)
    assert message.lang == lang and message.template == f"{lang}/{template}.mjml"
    html = message.html
    assert html.lower().startswith("<!doctype html>") and f'lang="{lang}"' in html
    assert "<mj-" not in html  # MJML fully rendered
    assert "@media only screen and (min-width:480px)" in html  # responsive columns
    assert 'style="' in html and "<style" in html  # CSS inlined, media queries kept
    assert f"<title>{message.subject}</title>" in unescape(html) or message.subject in unescape(html)
    assert message.subject and "Marie" in message.subject or template.startswith(("abandoned_cart/3", "replenishment"))
    # unsubscribe headers (RFC 8058) and footer link
    unsubscribe = message.headers["List-Unsubscribe"]
    assert (
        unsubscribe.startswith(f"<{BASE_URL}/m/u/")
        and "<mailto:aide@maison.example?subject=unsubscribe%2042>" in unsubscribe
    )
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe[1:].split(">")[0].rsplit("/", 1)[1]
    assert links.read_unsubscribe(SECRET, token) == links.Recipient(1, 7, 42)
    assert f'href="{BASE_URL}/m/u/{token}"' in html
    # every outside link goes through the signed redirect with UTM parameters
    raw_links = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    assert all(h.startswith(BASE_URL) for h in raw_links if h.startswith("http"))
    targets = clicked_targets(html)
    assert targets
    for target in targets:
        query = parse_qs(urlsplit(target).query)
        assert query["utm_source"] == ["relance"] and query["utm_medium"] == ["email"]
        assert query["utm_campaign"] == [template.split("/")[0]] and query["utm_content"] == [template.split("/")[1]]
        assert target.startswith("https://shop.example.com")
    assert f'src="{BASE_URL}/m/o/' in html  # open pixel
    # the plain-text part
    greeting = "Bonjour Marie" if lang == "fr" else "Hello Marie"
    assert message.text.strip() and "<" not in message.text.replace("<", "", 0).split("(")[0]
    if template != "birthday/1":
        assert greeting in message.text
    assert "/m/u/" in message.text and "/m/c/" in message.text


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_double_opt_in_email_is_transactional(lang):
    message = compose("double_opt_in/1", lang, marketing=False)
    assert "List-Unsubscribe" not in message.headers and "/m/o/" not in message.html
    confirm = re.search(rf'href="({BASE_URL}/m/confirm/[^"]+)"', message.html).group(1)
    assert links.read_confirm(SECRET, confirm.rsplit("/", 1)[1], SAMPLE_TIME) == links.Recipient(1, 7, 42)
    assert "/m/c/" not in message.html  # transactional: no click tracking
    assert message.subject.startswith("Confirmez" if lang == "fr" else "Confirm")


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("template", TEMPLATES)
def test_every_default_sms_renders_short_with_a_stop_mention(template, lang):
    message = compose(template, lang, channel="sms")
    assert message.html is None and message.subject is None
    assert message.text.endswith("STOP pour vous désinscrire" if lang == "fr" else "Reply STOP to opt out")
    assert message.sms_encoding == "GSM-7" and message.sms_segments <= 2
    assert f"{BASE_URL}/m/s/1-42-0-" in message.text
    assert "utm_medium=sms" in message.links[0] and "https://shop.example.com" in message.links[0]


def test_a_malicious_first_name_is_escaped_everywhere():
    message = compose("abandoned_cart/1", first_name=EVIL)
    tags = tags_of(message.html)
    assert "script" not in {tag for tag, _ in tags}
    assert not any(name.startswith("on") for _, attrs in tags for name, _ in attrs)
    assert "&lt;script&gt;" in message.html  # shown as text where it is text
    assert EVIL in message.subject  # a subject is plain text (and a header: no line breaks)
    assert "\n" not in message.subject and "\r" not in message.subject
    newline_name = compose("abandoned_cart/1", first_name="Eve\r\nBcc: victim@example.com")
    assert "\n" not in newline_name.subject


def test_without_a_first_name_the_greeting_falls_back():
    assert "Bonjour,\n" in compose("abandoned_cart/1", "fr", first_name=None).text
    assert compose("abandoned_cart/1", "fr", first_name=None).subject == "Votre panier vous attend"
    assert "Hello,\n" in compose("abandoned_cart/1", "en", first_name=None).text


def test_money_is_formatted_for_the_locale():
    cfg = config()
    product = ProductView(product_id="1", name="Théière", price=Decimal("49.90"), url="https://shop.example.com/p/1")
    for locale, expected in (("fr_FR", "49,90\xa0€"), ("en_IE", "€49.90")):
        content = Content(contact=ContactView(contact_id=7, first_name="Marie", locale=locale), products=(product,))
        message = compose_content(cfg, draft("cross_sell/1"), content, BASE_URL, SECRET)
        assert expected in unescape(message.html)


def test_language_is_the_contacts_then_the_tenants():
    cfg = config()
    content = sample_content(cfg, "fr")
    german = replace(content, contact=replace(content.contact, locale="de_DE"))
    assert compose_content(cfg, draft("birthday/1"), german, BASE_URL, SECRET).lang == "fr"
    english = replace(content, contact=replace(content.contact, locale="en_GB"))
    assert compose_content(cfg, draft("birthday/1"), english, BASE_URL, SECRET).lang == "en"
    no_locale = replace(content, contact=replace(content.contact, locale=None))
    assert compose_content(config(locale="en_US"), draft("birthday/1"), no_locale, BASE_URL, SECRET).lang == "en"


def test_a_later_step_without_its_own_template_uses_the_last_default():
    assert compose("abandoned_cart/5").template == "fr/abandoned_cart/3.mjml"


def test_a_flow_without_any_template_is_reported():
    with pytest.raises(TemplateError, match="add it under messages.templates.email"):
        compose("no_such_flow/1")


def test_a_tenant_overrides_a_template_and_the_layout():
    source = (
        '{% extends layout %}{% import "components.mjml" as ui with context %}'
        "{% block subject %}Coucou {{ first_name or 'vous' }}{% endblock %}"
        "{% block content %}{{ ui.heading('Spécial') }}{{ ui.products(products, 'Voir') }}{% endblock %}"
    )
    layout = '{% extends "base.mjml" %}{% block footer %}Pied de page maison <a href="{{ unsubscribe_url }}">stop</a>{% endblock %}'
    cfg = config(messages={"templates": {"email": {"abandoned_cart/1": {"fr": source}, "layout": {"fr": layout}}}})
    assert message_settings(cfg).overrides
    message = compose("abandoned_cart/1", cfg=cfg)
    assert message.subject == "Coucou Marie" and "Pied de page maison" in message.html
    assert compose("abandoned_cart/1", "en", cfg=cfg).subject.startswith("Marie, your cart")


@pytest.mark.parametrize(
    "source",
    [
        "{% extends layout %}{% block subject %}{{ ''.__class__.__mro__[1].__subclasses__() }}{% endblock %}",
        "{% extends layout %}{% block subject %}{{ cycler.__init__.__globals__ }}{% endblock %}",
        "{% extends layout %}{% block subject %}{{ products.append(1) }}{% endblock %}",
        "{% extends layout %}{% block subject %}{{ first_name.__class__.__base__ }}{% endblock %}",
    ],
)
def test_a_sandbox_escape_is_refused_when_the_settings_are_applied(source):
    with pytest.raises(ConfigError, match=r"messages\.templates\.email\.abandoned_cart/1\.fr: .*(sandbox|unsafe)"):
        config(messages={"templates": {"email": {"abandoned_cart/1": {"fr": source}}}})


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{% extends layout %}{% block subject %}Hi {{ frist_name }}{% endblock %}", "frist_name"),
        ("{% extends layout %}{% block subject %}Hi{% endblock %", "syntax error"),
        ("{% extends layout %}{% block content %}x{% endblock %}", "no subject"),
        (
            "{% extends layout %}{% block subject %}Hi{% endblock %}{% block content %}<mj-section>{% endblock %}",
            "MJML",
        ),
        ("{% extends layout %}{% block subject %}Hi {{ data.missing.deep }}{% endblock %}", "missing"),
    ],
)
def test_a_template_that_fails_to_render_is_refused_at_apply_time(source, reason):
    with pytest.raises(ConfigError, match=reason):
        config(messages={"templates": {"email": {"birthday/1": {"fr": source}}}})


def test_sms_override_that_is_too_long_is_refused():
    long_text = "Bonjour {{ first_name }} " + "blabla " * 80
    with pytest.raises(ConfigError, match="segments"):
        config(messages={"templates": {"sms": {"birthday/1": {"fr": long_text}}}})
